"""The outbox services in-process: expansion, delivery, retries and recovery."""

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction

from auctions import services as auctions
from common import clock
from notifications import services
from notifications.models import Event, Notification
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def expand_all(event: Event, batch_size: int = 500) -> list[int]:
    ids: list[int] = []
    more = True
    while more:
        batch, more = services.event_expand(event.pk, batch_size=batch_size)
        ids += batch
    return ids


def latest_event(kind: str) -> Event:
    return Event.objects.filter(kind=kind).latest("id")


def test_an_event_is_written_in_the_changes_transaction_or_not_at_all(auction_create):
    owner = UserFactory()

    def create_then_fail():
        with transaction.atomic():
            auction_create(owner=owner)
            raise RuntimeError("the request failed after the auction was written")

    with pytest.raises(RuntimeError):
        create_then_fail()
    assert not Event.objects.exists()


def test_expansion_in_batches_covers_every_user_but_the_owner_once(auction_create):
    owner = UserFactory()
    others = UserFactory.create_batch(23)
    auction_create(owner=owner)
    event = latest_event("auction_created")

    ids = expand_all(event, batch_size=5)

    assert len(ids) == 23
    recipients = list(Notification.objects.values_list("recipient_id", flat=True))
    assert sorted(recipients) == sorted(user.pk for user in others)
    event.refresh_from_db()
    assert event.expanded_at is not None
    assert event.cursor == max(user.pk for user in others)


def test_expanding_again_creates_nothing_new(auction_create):
    UserFactory.create_batch(3)
    auction_create()
    event = latest_event("auction_created")
    expand_all(event)
    Event.objects.filter(pk=event.pk).update(cursor=0, expanded_at=None)  # a crash replay

    expand_all(Event.objects.get(pk=event.pk))

    assert Notification.objects.count() == 3


def test_users_who_register_after_the_auction_are_not_announced_to(auction_create):
    UserFactory.create_batch(2)
    auction_create()
    UserFactory()  # joins during the fan-out
    expand_all(latest_event("auction_created"))
    assert Notification.objects.count() == 2


def test_a_leader_defended_by_a_maximum_is_told_of_a_new_bid_not_outbid(auction_create):
    owner, ann, bob = UserFactory(), UserFactory(), UserFactory()
    auction = auction_create(owner=owner)
    auctions.bid_place(auction.pk, bidder=ann, amount=Decimal("100.00"), max_amount=Decimal("200"))
    auctions.bid_place(auction.pk, bidder=bob, amount=Decimal("110.00"))
    for event in Event.objects.filter(kind="bid_placed"):  # bob's bid, ann's automatic one
        expand_all(event)
    [notice] = Notification.objects.filter(event__kind="bid_placed", recipient=ann)
    assert notice.kind == "new_bid"
    assert "115.00" in notice.subject  # one email, with the price after the automatic bid
    [outbid] = Notification.objects.filter(event__kind="bid_placed", recipient=bob)
    assert outbid.kind == "outbid"
    assert "115.00" in outbid.subject


def test_a_bidder_outbid_by_an_automatic_bid_is_told_with_the_new_price(auction_create, mailbox):
    """A holds a maximum of 300 and leads at 100; C bids 105; A's maximum answers 110. Each
    new bid tells every earlier bidder but its own bidder: C's tells A, A's automatic one
    tells C, who has just been outbid."""
    a, c = UserFactory(), UserFactory()
    auction = auction_create()
    auctions.bid_place(auction.pk, bidder=a, amount=Decimal("100.00"), max_amount=Decimal("300"))
    auctions.bid_place(auction.pk, bidder=c, amount=Decimal("105.00"))
    ids = []
    for event in Event.objects.filter(kind="bid_placed").order_by("id"):
        ids += expand_all(event)

    assert services.notification_deliver(ids) == 2

    [to_c] = mailbox.to(c.email)
    assert to_c.subject == "You were outbid on A fine thing: now 110.00 USD"
    [to_a] = mailbox.to(a.email)
    assert to_a.subject == "New bid on A fine thing: 110.00 USD"
    told = Notification.objects.values_list("recipient", "kind", "event__bid__bidder")
    assert sorted(told) == sorted([(a.pk, "new_bid", c.pk), (c.pk, "outbid", a.pk)])


def test_delivery_sends_one_message_per_recipient_and_marks_them_sent(auction_create, mailbox):
    users = UserFactory.create_batch(4)
    auction_create(title="Clock")
    ids = expand_all(latest_event("auction_created"))

    assert services.notification_deliver(ids) == 4

    assert sorted(m.rcpt_tos[0] for m in mailbox.snapshot()) == sorted(u.email for u in users)
    assert set(Notification.objects.values_list("status", flat=True)) == {"sent"}
    assert services.notification_deliver(ids) == 0  # already sent: nothing twice


def test_smtp_down_puts_notifications_back_with_a_backoff(auction_create, settings, mailbox):
    UserFactory.create_batch(2)
    auction_create()
    ids = expand_all(latest_event("auction_created"))
    settings.EMAIL_PORT = 9  # nothing listens there

    assert services.notification_deliver(ids) == 0

    for notification in Notification.objects.all():
        assert notification.status == "pending"
        assert notification.attempts == 0  # the server's fault, not the message's
        assert notification.last_error
        assert notification.next_attempt_at > clock.now()
    assert services.notification_deliver(ids) == 0  # not due yet: not even tried


def test_a_mail_server_down_for_any_number_of_tries_never_fails_a_notification(
    auction_create, settings, mailbox, smtp_server
):
    UserFactory()
    auction_create()
    ids = expand_all(latest_event("auction_created"))
    settings.EMAIL_PORT = 9  # nothing listens there
    settings.NOTIFICATION_MAX_ATTEMPTS = 2
    for _ in range(5):
        Notification.objects.update(next_attempt_at=clock.now())
        services.notification_deliver(ids)
    notification = Notification.objects.get()
    assert (notification.status, notification.attempts) == ("pending", 0)

    settings.EMAIL_PORT = smtp_server.port  # back
    Notification.objects.update(next_attempt_at=clock.now())
    assert services.notification_deliver(ids) == 1
    assert Notification.objects.get().status == "sent"


def test_a_message_refused_for_now_too_many_times_is_failed(auction_create, settings, mailbox):
    user = UserFactory()
    auction_create()
    ids = expand_all(latest_event("auction_created"))
    mailbox.refuse_for_now = {user.email}
    settings.NOTIFICATION_MAX_ATTEMPTS = 2
    services.notification_deliver(ids)
    assert Notification.objects.get().status == "pending"
    Notification.objects.update(next_attempt_at=clock.now())
    services.notification_deliver(ids)
    notification = Notification.objects.get()
    assert (notification.status, notification.attempts) == ("failed", 2)
    assert "450" in notification.last_error


def test_recovery_finds_stalled_expansions_and_due_retries(auction_create, settings):
    settings.NOTIFICATION_RECOVER_AFTER_SECONDS = 0
    UserFactory.create_batch(2)
    auction_create()
    event = latest_event("auction_created")
    expand_all(event)
    Notification.objects.update(next_attempt_at=clock.now() - timedelta(seconds=1))
    auction_create()  # a second event, never expanded (its task was lost)

    found = services.notifications_recover()

    assert found == {"events": 1, "notifications": 2}


def test_the_end_below_the_reserve_tells_the_owner_and_bidders_there_is_no_winner(
    auction_create, frozen_clock
):
    owner, ann = UserFactory(), UserFactory()
    auction = auction_create(owner=owner, title="Vase", reserve_price=Decimal("500.00"))
    auctions.bid_place(auction.pk, bidder=ann, amount=Decimal("100.00"))
    frozen_clock.shift(3600)
    auctions.auction_close(auction.pk)
    expand_all(latest_event("auction_closed"))
    subjects = dict(Notification.objects.values_list("recipient__username", "subject"))
    assert subjects == {
        owner.username: "Your auction Vase ended below its reserve price",
        ann.username: "Auction ended: Vase",
    }


def test_each_recipient_of_a_batch_gets_their_own_name_and_unsubscribe_link(
    auction_create, mailbox
):
    users = [UserFactory(username="ann.o+1"), UserFactory(username="bob_2")]
    auction_create(title="Clock & <Bell>")
    services.notification_deliver(expand_all(latest_event("auction_created")))

    links = set()
    for user in users:
        [message] = mailbox.to(user.email)
        text, html = message.part("text/plain"), message.part("text/html")
        assert f"Hello {user.username}," in text
        assert f"Hello {user.username}," in html
        assert "Clock & <Bell>" in text
        assert "Clock &amp; &lt;Bell&gt;" in html
        link = "".join(str(message.message["List-Unsubscribe"]).split()).strip("<>")
        assert link in text
        links.add(link)
    assert len(links) == 2


def test_a_user_without_an_email_address_gets_no_outbox_row(auction_create):
    reachable = UserFactory()
    UserFactory(email="")
    auction_create()
    expand_all(latest_event("auction_created"))
    assert list(Notification.objects.values_list("recipient_id", flat=True)) == [reachable.pk]


def test_a_user_with_several_bids_gets_one_email_per_new_bid_and_one_at_the_end(
    auction_create, frozen_clock
):
    owner, ann, bob = UserFactory(), UserFactory(), UserFactory()
    auction = auction_create(owner=owner)
    for amount, bidder in [("100.00", ann), ("105.00", bob), ("110.00", ann), ("115.00", bob)]:
        auctions.bid_place(auction.pk, bidder=bidder, amount=Decimal(amount))
    for event in Event.objects.filter(kind="bid_placed"):
        expand_all(event)
    # Three bids followed an earlier one; each told every earlier bidder but its own, once.
    per_bid = Counter(
        Notification.objects.filter(event__kind="bid_placed").values_list("event_id", flat=True)
    )
    assert sorted(per_bid.values()) == [1, 1, 1]

    frozen_clock.shift(3600)
    auctions.auction_close(auction.pk)
    expand_all(latest_event("auction_closed"))
    ended = Counter(
        Notification.objects.filter(event__kind="auction_closed").values_list(
            "recipient_id", flat=True
        )
    )
    assert ended == Counter({owner.pk: 1, ann.pk: 1, bob.pk: 1})
