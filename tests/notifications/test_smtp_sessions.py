"""SMTP sessions kept between delivery runs (notifications/services.py): consecutive runs
of one thread share a session; a session the server ended is replaced, and no message is
lost or delayed for it."""

import pytest

from notifications import services
from notifications.models import Event, Notification
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _announce(auction_create) -> list[int]:
    """One new auction, expanded: the ids of its pending notifications."""
    auction_create(owner=UserFactory())
    event = Event.objects.filter(kind="auction_created").latest("id")
    ids, more = services.event_expand(event.pk)
    assert not more
    return ids


def test_consecutive_runs_share_one_session(auction_create, mailbox):
    UserFactory.create_batch(2)
    assert services.notification_deliver(_announce(auction_create)) == 2
    assert services.notification_deliver(_announce(auction_create)) == 3

    peers = {item.peer for item in mailbox.snapshot()}
    assert len(mailbox.snapshot()) == 5
    assert len(peers) == 1  # one connection for both runs


def test_a_session_the_server_ended_is_replaced_and_nothing_waits(
    auction_create, mailbox, smtp_server
):
    UserFactory.create_batch(2)
    assert services.notification_deliver(_announce(auction_create)) == 2
    smtp_server.stop()  # the kept session ends with the server
    smtp_server.start()

    ids = _announce(auction_create)
    assert services.notification_deliver(ids) == 3

    assert len(smtp_server.mailbox.snapshot()) == 5
    assert len({item.peer for item in smtp_server.mailbox.snapshot()}) == 2
    notifications = Notification.objects.filter(pk__in=ids)
    assert {(n.status, n.attempts) for n in notifications} == {("sent", 1)}  # first try


def test_a_session_is_not_kept_across_a_change_of_server(auction_create, mailbox, settings):
    UserFactory.create_batch(2)
    assert services.notification_deliver(_announce(auction_create)) == 2
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    from django.core import mail

    mail.outbox = []
    assert services.notification_deliver(_announce(auction_create)) == 3
    assert len(mail.outbox) == 3  # went to the backend configured now
    assert len(mailbox.snapshot()) == 2
