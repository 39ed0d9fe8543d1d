"""Messages go out in two round trips when the mail server offers PIPELINING, and one
command at a time when it does not; either way the server receives the same message."""

import smtplib
from decimal import Decimal

import pytest

from auctions import services as auctions
from notifications import services
from notifications.models import Event, Notification
from notifications.services import _smtp_sendmail
from tests.factories import UserFactory

MESSAGE = (
    b"From: Auctions <noreply@example.com>\r\n"
    b"To: ann@example.com\r\n"
    b"Subject: Dots\r\n"
    b"\r\n"
    b"A line.\r\n"
    b".A line that starts with a dot\r\n"
    b".\r\n"
    b"..two\r\n"
)


@pytest.fixture
def session(smtp_server, mailbox):
    smtp = smtplib.SMTP("127.0.0.1", smtp_server.port, timeout=10)
    yield smtp
    smtp.close()


@pytest.mark.parametrize("pipelining", [True, False])
def test_the_server_receives_the_message_as_it_was_written(mailbox, session, pipelining):
    mailbox.pipelining = pipelining

    for n in range(3):
        _smtp_sendmail(session, "noreply@example.com", f"user{n}@example.com", MESSAGE)

    assert session.has_extn("pipelining") is pipelining
    received = mailbox.snapshot()
    assert [item.rcpt_tos for item in received] == [[f"user{n}@example.com"] for n in range(3)]
    assert {item.mail_from for item in received} == {"noreply@example.com"}
    assert received[0].message.get_payload() == MESSAGE.split(b"\r\n\r\n", 1)[1].decode()


@pytest.mark.parametrize("pipelining", [True, False])
def test_a_refused_recipient_raises_as_sendmail_does_and_the_session_goes_on(
    mailbox, session, pipelining
):
    mailbox.pipelining = pipelining
    mailbox.refuse = {"gone@example.com"}

    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        _smtp_sendmail(session, "noreply@example.com", "gone@example.com", MESSAGE)
    _smtp_sendmail(session, "noreply@example.com", "ann@example.com", MESSAGE)

    assert refused.value.recipients["gone@example.com"][0] == 550
    assert [item.rcpt_tos for item in mailbox.snapshot()] == [["ann@example.com"]]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("refusal", "status", "code"),
    [("refuse", "failed", "550"), ("refuse_for_now", "pending", "450")],
)
def test_a_refused_recipient_is_failed_or_retried_later_and_the_others_are_sent(
    auction_create, mailbox, refusal, status, code
):
    """A 5xx to RCPT fails that message for good; a 4xx retries it later."""
    auction = auction_create()
    bidders = UserFactory.create_batch(4)
    for n, bidder in enumerate(bidders):
        auctions.bid_place(auction.pk, bidder=bidder, amount=Decimal(100 + 5 * n))
    setattr(mailbox, refusal, {bidders[1].email})

    batch = services.events_expand_claimed(
        [Event.objects.filter(kind="bid_placed").latest("id").pk]
    )

    assert services.batch_deliver(batch) == 2
    refused = Notification.objects.get(recipient=bidders[1], event__bid__bidder=bidders[3])
    assert refused.status == status
    assert refused.attempts == 1
    assert code in refused.last_error
    assert sorted(item.rcpt_tos[0] for item in mailbox.snapshot()) == sorted(
        [bidders[0].email, bidders[2].email]
    )


@pytest.mark.parametrize(
    "address",
    [
        "ann@example.com", "first.last+tag@sub.example.co.uk", "o'neil@example.com",
        "x_y-z@ex-ample.com", "{a}~=b@example.com", "ANN@EXAMPLE.COM", "auctions@localhost",
        # not dot-atoms: left to smtplib's parser
        "a..b@example.com", ".a@example.com", "Ann <ann@example.com>", "ann@[127.0.0.1]",
        "Auctions <auctions@localhost>",
        '"a b"@example.com', "ann@example.com.", "",
    ],
)  # fmt: skip
def test_envelope_addresses_are_quoted_as_smtplib_quotes_them(address):
    assert services._smtp_quoteaddr(address) == smtplib.quoteaddr(address)
