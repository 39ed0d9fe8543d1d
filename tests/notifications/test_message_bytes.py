"""The hand-serialised message (`emails.message_bytes`) says exactly what Django's message
says, for every recipient, whatever the text: the fast path may never change an email."""

from decimal import Decimal
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from django.conf import settings
from django.core.mail.message import sanitize_address

from auctions import services as auctions
from notifications import emails, services
from notifications.models import Event, Notification
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

HEADERS = ("Subject", "From", "To", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post")


def notifications_of(kind: str) -> list[Notification]:
    event = Event.objects.filter(kind=kind).latest("id")
    more = True
    while more:
        _ids, more = services.event_expand(event.pk)
    return list(
        Notification.objects.filter(event=event)
        .select_related("recipient", "event__auction__owner", "event__bid")
        .order_by("id")
    )


def parsed(data: bytes) -> EmailMessage:
    return message_from_bytes(data, policy=policy.default)


def assert_same_email(notification: Notification) -> bytes:
    """`message_bytes` and Django's `message` agree on every header a reader sees and on
    both decoded parts; returns the fast path's bytes."""
    rendered: dict = {}
    outgoing = emails.message_bytes(notification, rendered=rendered)
    assert outgoing is not None
    django_message = emails.message(notification, rendered=rendered).message()
    reference = parsed(django_message.as_bytes(linesep="\r\n"))  # as Django sends it
    fast = parsed(outgoing.data)
    for name in HEADERS:
        assert str(fast[name]) == str(reference[name]), name
    assert fast.get_content_type() == "multipart/alternative"
    for subtype in ("plain", "html"):
        ours, theirs = fast.get_body((subtype,)), reference.get_body((subtype,))
        assert ours.get_content() == theirs.get_content()
        assert ours["Content-Transfer-Encoding"] == theirs["Content-Transfer-Encoding"]
    assert fast["Date"] is not None
    assert outgoing.recipient == notification.recipient.email
    assert outgoing.envelope_from == sanitize_address(settings.DEFAULT_FROM_EMAIL, "utf-8")
    # SMTP's own limits: CRLF line endings only, no line longer than 998 octets.
    assert b"\n" not in outgoing.data.replace(b"\r\n", b"")
    assert max(len(line) for line in outgoing.data.split(b"\r\n")) <= 998
    return outgoing.data


def test_an_ascii_announcement_is_the_same_email_in_7bit(auction_create):
    UserFactory(username="ann")
    auction_create(title="Clock & <Bell>", description="Brass.\r\nWorks.")

    [notification] = notifications_of("auction_created")
    data = assert_same_email(notification)

    assert data.count(b"Content-Transfer-Encoding: 7bit") == 2
    assert b"Hello ann," in data


def test_non_ascii_titles_and_names_are_the_same_email_in_8bit(auction_create):
    UserFactory(username="zoë", email="zoe@example.com")
    auction_create(title="Vase ünïque — €", description="Verre soufflé")

    [notification] = notifications_of("auction_created")
    data = assert_same_email(notification)

    assert data.count(b"Content-Transfer-Encoding: 8bit") == 2
    assert b"Subject: =?utf-8?" in data  # RFC 2047, as Django writes it


def test_a_line_too_long_for_smtp_is_quoted_printable_and_decodes_to_the_same_text(
    auction_create,
):
    UserFactory(username="ann")
    auction_create(title="Long", description="é" * 700 + " end.  ")

    [notification] = notifications_of("auction_created")
    data = assert_same_email(notification)

    assert data.count(b"Content-Transfer-Encoding: quoted-printable") == 2


def test_a_long_subject_is_folded_as_django_folds_it(auction_create):
    UserFactory()
    auction_create(title="A very long title " * 10)

    [notification] = notifications_of("auction_created")
    data = assert_same_email(notification)

    head = data.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in head.split(b"\r\n")) <= 998


def test_the_end_emails_of_an_auction_are_the_same_emails(auction_create, frozen_clock):
    owner, ann, bob = UserFactory(), UserFactory(username="ann"), UserFactory(username="bob")
    auction = auction_create(owner=owner, title="Red chair")
    auctions.bid_place(auction.pk, bidder=ann, amount=Decimal("100.00"))
    auctions.bid_place(auction.pk, bidder=bob, amount=Decimal("110.00"))
    frozen_clock.shift(3600)
    auctions.auction_close(auction.pk)

    kinds = set()
    for notification in notifications_of("auction_closed"):
        assert_same_email(notification)
        kinds.add(notification.kind)
    assert kinds == {"auction_won", "auction_lost", "auction_ended_owner"}


def test_each_recipient_gets_their_own_headers_from_one_draft(auction_create):
    users = UserFactory.create_batch(3)
    auction_create(title="Clock")

    rendered: dict = {}
    messages = [
        parsed(emails.message_bytes(notification, rendered=rendered).data)
        for notification in notifications_of("auction_created")
    ]

    assert len([key for key in rendered if key[0] != "unsubscribe"]) == 1  # rendered once
    assert [m["To"] for m in messages] == [user.email for user in users]
    assert len({m["Message-ID"] for m in messages}) == 3
    assert len({m["List-Unsubscribe"] for m in messages}) == 3


def test_an_address_only_django_can_encode_is_sent_through_django(auction_create, mailbox):
    quoted = UserFactory(email='"ann smith"@example.com')
    auction_create(title="Clock")
    [notification] = notifications_of("auction_created")

    assert emails.message_bytes(notification, rendered={}) is None
    assert services.notification_deliver([notification.pk]) == 1

    [received] = mailbox.snapshot()
    assert received.rcpt_tos == [quoted.email]
    assert "Clock" in received.subject
