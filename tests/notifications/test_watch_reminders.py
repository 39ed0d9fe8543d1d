"""The "ending soon" reminder: one email per watcher, WATCH_REMINDER_SECONDS before the end."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings

from auctions import services as auctions
from auctions.tasks import auctions_watch_remind_task
from common import clock
from config.celery import app as celery_app
from notifications import emails, selectors, services
from notifications.models import Event, Notification
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)


def reminders() -> list[Event]:
    return list(Event.objects.filter(kind=Event.Kind.AUCTION_ENDING_SOON).order_by("id"))


@pytest.fixture
def watched_auction(auction_create, frozen_clock):
    """`watched_auction(*watchers, **overrides)`: an auction ending in two hours (longer
    than the reminder's hour), watched by the given users."""

    def make(*watchers, **overrides):
        overrides.setdefault("end_time", clock.now() + 2 * HOUR)
        auction = auction_create(**overrides)
        for user in watchers:
            auctions.watch_add(auction.pk, user=user)
        return auction

    return make


def test_the_reminder_lead_defaults_to_an_hour():
    assert settings.WATCH_REMINDER_SECONDS == 3600


def test_the_reminder_is_recorded_once_when_the_end_is_an_hour_away(watched_auction, frozen_clock):
    auction = watched_auction(UserFactory(), UserFactory())

    assert auctions.auction_watch_remind_due() == 0  # two hours away: too early
    frozen_clock.shift(HOUR - timedelta(seconds=1))
    assert auctions.auction_watch_remind_due() == 0
    frozen_clock.shift(1)  # exactly an hour before the end

    assert auctions.auction_watch_remind_due() == 1
    [event] = reminders()
    auction.refresh_from_db()
    assert auction.watch_reminded_at == clock.now()
    assert event.auction_id == auction.pk
    assert event.payload["current_price"] == "100.00"
    assert event.payload["min_next_bid"] == "100.00"
    assert event.payload["closes_at"] == auction.closes_at.isoformat()

    frozen_clock.shift(30)
    assert auctions.auction_watch_remind_due() == 0  # the next sweeps find nothing to do
    assert auctions.auction_watch_remind_due() == 0
    assert len(reminders()) == 1


def test_the_payload_carries_the_prices_at_the_reminder(watched_auction, bid_place, frozen_clock):
    auction = watched_auction(UserFactory())
    bid_place(auction, UserFactory(), "120.00")
    frozen_clock.shift(HOUR + timedelta(minutes=1))

    auctions.auction_watch_remind_due()

    [event] = reminders()
    assert event.payload["current_price"] == "120.00"
    assert event.payload["min_next_bid"] == "125.00"


def test_an_auction_shorter_than_the_lead_gets_no_reminder(watched_auction, frozen_clock):
    watched_auction(UserFactory(), end_time=clock.now() + timedelta(minutes=59))

    for _ in range(4):
        assert auctions.auction_watch_remind_due() == 0
        frozen_clock.shift(15 * 60)
    assert reminders() == []


def test_an_auction_exactly_as_long_as_the_lead_is_reminded_at_once(watched_auction, frozen_clock):
    watched_auction(UserFactory(), end_time=clock.now() + HOUR)
    assert auctions.auction_watch_remind_due() == 1


def test_an_unwatched_auction_gets_no_reminder_until_someone_watches_it(
    watched_auction, frozen_clock
):
    auction = watched_auction()
    frozen_clock.shift(HOUR + timedelta(minutes=1))
    assert auctions.auction_watch_remind_due() == 0
    auction.refresh_from_db()
    assert auction.watch_reminded_at is None

    auctions.watch_add(auction.pk, user=UserFactory())  # a late watcher, ten minutes left

    assert auctions.auction_watch_remind_due() == 1


def test_a_finished_auction_gets_no_reminder(watched_auction, frozen_clock):
    watched_auction(UserFactory())
    frozen_clock.shift(2 * HOUR)  # the sweep was down for the whole last hour
    assert auctions.auction_watch_remind_due() == 0
    assert reminders() == []


def test_a_bought_auction_gets_no_reminder(watched_auction, frozen_clock):
    auction = watched_auction(UserFactory(), buy_now_price=Decimal("300.00"))
    frozen_clock.shift(1)
    auctions.auction_buy_now(auction.pk, buyer=UserFactory())
    frozen_clock.shift(HOUR + timedelta(minutes=1))
    assert auctions.auction_watch_remind_due() == 0


def test_a_soft_close_extension_after_the_reminder_does_not_send_another(
    watched_auction, bid_place, frozen_clock
):
    auction = watched_auction(UserFactory(), extension_seconds=600)
    frozen_clock.shift(HOUR + timedelta(minutes=1))
    assert auctions.auction_watch_remind_due() == 1
    frozen_clock.shift(HOUR - timedelta(minutes=2))  # one minute left
    bid_place(auction, UserFactory(), "100.00")  # extends the end by ten minutes
    auction.refresh_from_db()
    assert auction.extension_count == 1

    assert auctions.auction_watch_remind_due() == 0
    frozen_clock.shift(5 * 60)
    assert auctions.auction_watch_remind_due() == 0
    assert len(reminders()) == 1


def test_an_extension_before_the_reminder_moves_it_with_the_end(
    watched_auction, bid_place, frozen_clock
):
    auction = watched_auction(UserFactory(), extension_seconds=3 * 3600)
    bid_place(auction, UserFactory(), "100.00")  # inside the window: the end moves to +3h
    auction.refresh_from_db()
    frozen_clock.shift(HOUR + timedelta(minutes=1))  # the original end is under an hour away
    assert auction.closes_at - clock.now() > HOUR
    assert auctions.auction_watch_remind_due() == 0

    frozen_clock.move_to(auction.closes_at - HOUR)
    assert auctions.auction_watch_remind_due() == 1


def test_a_second_sweep_that_read_the_same_due_auction_rechecks_it_under_the_lock(
    watched_auction, frozen_clock
):
    auction = watched_auction(UserFactory())
    frozen_clock.shift(HOUR + timedelta(minutes=1))
    lead = timedelta(seconds=settings.WATCH_REMINDER_SECONDS)

    # Both sweeps found the auction due before either locked it.
    first = auctions.auction_watch_remind(auction.pk, lead=lead)
    second = auctions.auction_watch_remind(auction.pk, lead=lead)

    assert first is not None
    assert second is None
    assert reminders() == [first]


def test_the_recipients_are_the_watchers_the_owner_included_if_watching(
    watched_auction, bid_place, frozen_clock
):
    owner = UserFactory()
    watchers = [UserFactory(), UserFactory()]
    bidder_not_watching = UserFactory()
    gone = UserFactory()
    UserFactory()  # neither watches nor bids
    auction = watched_auction(*watchers, owner, gone, owner=owner)
    bid_place(auction, bidder_not_watching, "100.00")
    auctions.watch_remove(auction.pk, user=gone)
    frozen_clock.shift(HOUR + timedelta(minutes=1))
    auctions.auction_watch_remind_due()
    late = UserFactory()
    auctions.watch_add(auction.pk, user=late)  # after the reminder: not part of it

    [event] = reminders()
    recipients = set(selectors.event_recipients(event).values_list("id", flat=True))

    assert recipients == {watchers[0].pk, watchers[1].pk, owner.pk}
    assert {emails.notification_kind(event, user_id) for user_id in recipients} == {
        Notification.Kind.WATCH_REMINDER
    }
    assert emails.subject(Notification.Kind.WATCH_REMINDER, event) == "Ending soon: A fine thing"


def test_the_task_runs_the_sweep_and_is_scheduled_every_30_seconds(watched_auction, frozen_clock):
    watched_auction(UserFactory())
    frozen_clock.shift(HOUR + timedelta(minutes=1))

    auctions_watch_remind_task()

    assert len(reminders()) == 1
    [entry] = [
        entry
        for entry in celery_app.conf.beat_schedule.values()
        if entry["task"] == "auctions.tasks.auctions_watch_remind_task"
    ]
    assert entry["schedule"] == 30.0
    route = celery_app.amqp.router.route({}, "auctions.tasks.auctions_watch_remind_task")
    assert route["queue"].name == "closing"


def test_every_watcher_gets_one_email_naming_the_title(
    mailbox, watched_auction, bid_place, frozen_clock
):
    owner = UserFactory(username="owner")
    watchers = [UserFactory(username=f"watcher{index}") for index in range(3)]
    UserFactory(username="bystander")
    auction = watched_auction(*watchers, owner=owner, title="Blue vase")
    bid_place(auction, UserFactory(username="bidder"), "130.00")
    frozen_clock.shift(HOUR + timedelta(minutes=1))
    auctions.auction_watch_remind_due()
    [event] = reminders()

    ids, more = services.event_expand(event.pk)
    sent = services.notification_deliver(ids)

    assert more is False
    assert sent == 3
    assert sorted(item.rcpt_tos[0] for item in mailbox.received) == sorted(
        user.email for user in watchers
    )
    for item in mailbox.received:
        assert item.rcpt_tos == [item.to]  # one message per recipient, nobody else's address
        assert item.subject == "Ending soon: Blue vase"
        text = item.part("text/plain")
        assert "Blue vase" in text
        assert "130.00 USD" in text  # the current price
        assert "135.00 USD" in text  # the minimum next bid
        assert auction.closes_at.isoformat() in text
        assert f"/api/v1/auctions/{auction.pk}" in text
        assert "Blue vase" in item.part("text/html")
    assert set(Notification.objects.values_list("kind", "status")) == {
        (Notification.Kind.WATCH_REMINDER, Notification.Status.SENT)
    }

    # Expanding and delivering again sends nothing more.
    assert services.event_expand(event.pk) == ([], False)
    assert services.notification_deliver(ids) == 0
    assert len(mailbox.received) == 3
