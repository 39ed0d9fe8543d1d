"""What delivery does when a message cannot be sent: a message that cannot be built or that
the server refuses fails alone, with its reason; a claim that outlived its lease is never
sent twice nor undone by its late worker. Against a real SMTP server (aiosmtpd)."""

import threading

import pytest
from django.db import connection

from notifications import services
from notifications.models import Event, Notification
from tests.factories import UserFactory
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.django_db(transaction=True)


def announcement_ids(auction_create, **fields) -> list[int]:
    auction_create(**fields)
    event = Event.objects.filter(kind="auction_created").latest("id")
    ids: list[int] = []
    more = True
    while more:
        batch, more = services.event_expand(event.pk)
        ids += batch
    return ids


def test_a_title_with_a_folding_character_adds_no_header_to_the_announcement(
    auction_create, mailbox
):
    reader = UserFactory()
    ids = announcement_ids(auction_create, title="Vase\u000bReply-To :phish@evil.example")

    assert services.notification_deliver(ids) == 1

    [received] = mailbox.to(reader.email)
    assert received.message["Reply-To"] is None
    assert received.subject == "New auction: Vase Reply-To :phish@evil.example"


@pytest.mark.parametrize("subject", ["Vase\nBcc: all@example.com", "Vase\u2028Bcc: all@example"])
def test_an_old_row_whose_subject_holds_a_line_break_is_sent_with_one_subject_line(
    auction_create, mailbox, subject
):
    readers = UserFactory.create_batch(3)
    ids = announcement_ids(auction_create)
    Notification.objects.filter(recipient=readers[1]).update(subject=subject)  # written long ago

    assert services.notification_deliver(ids) == 3

    [received] = mailbox.to(readers[1].email)
    assert received.message["Bcc"] is None
    assert received.subject.startswith("Vase Bcc:")
    assert set(Notification.objects.values_list("status", flat=True)) == {"sent"}


def test_a_message_that_cannot_be_built_fails_alone_with_its_reason(auction_create, mailbox):
    before, poisoned, after = UserFactory(), UserFactory(), UserFactory()
    # An address registered before the API refused such input.
    type(poisoned).objects.filter(pk=poisoned.pk).update(email='"x\u000bX:y"@example.com')
    ids = announcement_ids(auction_create)

    assert services.notification_deliver(ids) == 2

    failed = Notification.objects.get(recipient=poisoned)
    assert failed.status == "failed"
    assert "BadHeaderError" in failed.last_error
    assert sorted(m.rcpt_tos[0] for m in mailbox.snapshot()) == sorted([before.email, after.email])
    assert Notification.objects.exclude(recipient=poisoned).filter(status="sent").count() == 2
    assert not any(m.message["X"] for m in mailbox.snapshot())


@pytest.mark.parametrize("pipelining", [True, False])
def test_a_message_refused_after_its_content_fails_alone_and_its_neighbours_are_sent(
    auction_create, mailbox, pipelining
):
    readers = UserFactory.create_batch(4)
    mailbox.pipelining = pipelining
    mailbox.refuse_content = {readers[1].email}
    ids = announcement_ids(auction_create)

    assert services.notification_deliver(ids) == 3

    refused = Notification.objects.get(recipient=readers[1])
    assert refused.status == "failed"
    assert "554" in refused.last_error
    others = Notification.objects.exclude(recipient=readers[1])
    assert list(others.values_list("status", "attempts").distinct()) == [("sent", 1)]


def test_a_server_closing_the_session_fails_nothing_and_counts_no_attempt(auction_create, mailbox):
    readers = UserFactory.create_batch(4)
    mailbox.closing = {readers[1].email}  # 421: the server, not the message
    ids = announcement_ids(auction_create)

    assert services.notification_deliver(ids) == 1

    rows = {n.recipient_id: n for n in Notification.objects.all()}
    assert rows[readers[0].pk].status == "sent"
    for reader in readers[1:]:
        assert (rows[reader.pk].status, rows[reader.pk].attempts) == ("pending", 0)
        assert "421" in rows[reader.pk].last_error


def test_a_late_worker_never_turns_a_sent_notification_back_to_pending(
    auction_create, settings, mailbox
):
    UserFactory.create_batch(3)
    auction_create()
    event = Event.objects.filter(kind="auction_created").latest("id")
    late = services.events_expand_claimed([event.pk])  # claimed by a worker that then stalls
    ids = [notification.pk for notification in late.claimed]
    Notification.objects.update(next_attempt_at=late.claimed[0].created_at)  # lease run out
    assert services.notification_deliver(ids) == 3  # another worker takes them over

    settings.EMAIL_PORT = 9  # the late worker now finds no mail server...
    assert services.batch_deliver(late) == 0

    # ... and leaves alone what is no longer its own.
    assert list(Notification.objects.values_list("status", "attempts").distinct()) == [("sent", 1)]


@pytest.fixture
def other_relay():
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize(("seconds_per_message", "sent_by_first"), [(10, 20), (130, 1)])
def test_a_slow_relay_never_lets_two_workers_send_the_same_messages(
    auction_create, settings, mailbox, other_relay, frozen_clock, seconds_per_message, sent_by_first
):
    """A worker sends a claim of 20 over a relay that takes `seconds_per_message` (on the
    clock) for each; past the claim's 120 s, while the relay holds a message, a second
    worker (with a relay of its own) sweeps the same notifications. At 10 s a message, the
    first worker has renewed its claim and the second finds nothing to take; at 130 s, the
    second takes over every row but the one in flight, which the first does not send again.
    """
    readers = UserFactory.create_batch(20)
    auction_create()
    event = Event.objects.filter(kind="auction_created").latest("id")
    settings.NOTIFICATION_CLAIM_SECONDS = 120
    first = services.events_expand_claimed([event.pk])
    ids = [notification.pk for notification in first.claimed]
    swept: list[int] = []
    errors: list[BaseException] = []

    def second_worker() -> None:
        try:
            swept.append(services.notification_deliver(ids))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def slow_relay(envelope) -> None:
        frozen_clock.shift(seconds_per_message)
        if len(mailbox.snapshot()) == min(12, 120 // seconds_per_message):
            settings.EMAIL_PORT = other_relay.port  # the first worker keeps its session
            thread = threading.Thread(target=second_worker)
            thread.start()
            thread.join(timeout=60)

    mailbox.on_data = slow_relay
    services.batch_deliver(first)

    assert not errors
    assert len(mailbox.snapshot()) == sent_by_first
    received = [m.rcpt_tos[0] for m in mailbox.snapshot() + other_relay.mailbox.snapshot()]
    in_flight = len(received) - len(set(received))
    assert set(received) == {reader.email for reader in readers}
    assert in_flight == (1 if sent_by_first == 1 else 0)
    assert set(Notification.objects.values_list("status", flat=True)) == {"sent"}
