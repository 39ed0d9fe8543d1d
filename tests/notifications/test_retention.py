"""Retention: sent notifications, finished events and expired OAuth tokens are deleted when
old enough, in small batches, by hourly jobs on the beat schedule."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from oauth2_provider.models import AccessToken, RefreshToken

from accounts.services import token_issue
from accounts.tasks import tokens_expired_purge_task
from auctions import services as auctions
from common import clock
from notifications import services
from notifications.models import Event, Notification
from notifications.tasks import events_purge_task, notifications_sent_purge_task
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def announce(auction_create, readers: int) -> list[int]:
    UserFactory.create_batch(readers)
    auction_create()
    event = Event.objects.filter(kind="auction_created").latest("id")
    ids, _ = services.event_expand(event.pk)
    return ids


def test_sent_notifications_older_than_the_retention_are_deleted_and_the_rest_kept(
    auction_create, mailbox, frozen_clock
):
    old = announce(auction_create, 3)
    services.notification_deliver(old)
    Notification.objects.filter(pk=old[0]).update(status="failed")  # an operator's to resend
    frozen_clock.shift(31 * DAY)
    young = announce(auction_create, 1)
    services.notification_deliver(young)
    waiting = announce(auction_create, 0)  # not sent yet (three readers more, no delivery)

    notifications_sent_purge_task()

    left = dict(Notification.objects.values_list("pk", "status"))
    assert set(old[1:]).isdisjoint(left)
    assert left[old[0]] == "failed"
    assert all(left[pk] == "sent" for pk in young)
    assert all(left[pk] == "pending" for pk in waiting)


def test_events_are_deleted_once_old_expanded_and_without_notifications(
    auction_create, mailbox, frozen_clock
):
    done = announce(auction_create, 2)
    services.notification_deliver(done)
    failed = announce(auction_create, 0)
    Notification.objects.filter(pk__in=failed).update(status="failed")
    auction = auction_create()  # its announcement never expanded
    frozen_clock.shift(31 * DAY)
    fresh = auction_create()

    notifications_sent_purge_task()
    events_purge_task()

    kept = set(Event.objects.values_list("auction_id", flat=True))
    failed_auction = Notification.objects.get(pk=failed[0]).event.auction_id
    assert kept == {failed_auction, auction.pk, fresh.pk}


def test_a_purge_deletes_in_small_batches(auction_create, mailbox, frozen_clock, settings):
    settings.RETENTION_BATCH_SIZE = 2
    services.notification_deliver(announce(auction_create, 7))
    frozen_clock.shift(31 * DAY)

    with CaptureQueriesContext(connection) as queries:
        assert services.notifications_sent_purge() == 7

    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 4  # 2 + 2 + 2 + 1
    assert not Notification.objects.exists()


def test_expired_tokens_are_deleted_and_live_ones_kept(frozen_clock, settings):
    user = UserFactory()
    token_issue(user)
    frozen_clock.shift(
        timedelta(seconds=settings.OAUTH2_PROVIDER["REFRESH_TOKEN_EXPIRE_SECONDS"]) + 2 * DAY
    )
    token_issue(user)

    tokens_expired_purge_task()

    [kept] = AccessToken.objects.all()
    assert kept.expires > clock.now()  # the live pair's
    assert RefreshToken.objects.get().access_token == kept


def test_the_retention_jobs_are_on_the_beat_schedule_every_hour():
    from config.celery import app

    tasks = {entry["task"]: entry["schedule"] for entry in app.conf.beat_schedule.values()}
    assert tasks["notifications.tasks.notifications_sent_purge_task"] == 3600.0
    assert tasks["notifications.tasks.events_purge_task"] == 3600.0
    assert tasks["accounts.tasks.tokens_expired_purge_task"] == 3600.0
    assert {events_purge_task.name, notifications_sent_purge_task.name} <= tasks.keys()
    assert tokens_expired_purge_task.name in tasks


def test_bids_leave_events_the_purge_deletes_once_their_notices_are_sent(
    auction_create, mailbox, frozen_clock
):
    ann, bob = UserFactory(), UserFactory()
    auction = auction_create()
    auctions.bid_place(auction.pk, bidder=ann, amount=Decimal("100"))
    auctions.bid_place(auction.pk, bidder=bob, amount=Decimal("105"))
    event = Event.objects.get(kind="bid_placed")
    ids, _ = services.event_expand(event.pk)
    services.notification_deliver(ids)
    frozen_clock.shift(31 * DAY)

    services.notifications_sent_purge()
    services.events_purge()

    assert not Event.objects.filter(kind="bid_placed").exists()
