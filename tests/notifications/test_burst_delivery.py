"""Auctions closed together are told together: one event each, one fan-out task for the
burst, every bidder and owner emailed once."""

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest

from accounts import services as accounts
from auctions import services as auctions
from auctions.models import Auction
from common import clock
from notifications import selectors, services
from notifications.models import Event, Notification
from tests.factories import UserFactory
from tests.support.worker import wait_for


def closed_auctions(auction_create, frozen_clock, count: int, **overrides) -> list:
    """`count` auctions with two bids each (ann, then bob), past their end, not closed."""
    ann, bob = UserFactory(username="ann"), UserFactory(username="bob")
    made = []
    for n in range(count):
        auction = auction_create(title=f"Lot {n}", **overrides)
        auctions.bid_place(auction.pk, bidder=ann, amount=Decimal("100.00"))
        auctions.bid_place(auction.pk, bidder=bob, amount=Decimal("110.00"))
        made.append(auction)
    frozen_clock.shift(3600)
    return made


@pytest.mark.django_db
def test_auctions_closed_together_record_one_event_each_and_one_fan_out(
    auction_create, frozen_clock, django_capture_on_commit_callbacks
):
    lots = closed_auctions(auction_create, frozen_clock, 3)

    with django_capture_on_commit_callbacks() as callbacks:
        closed = auctions.auctions_close([lot.pk for lot in lots])

    assert len(closed) == 3
    assert Event.objects.filter(kind="auction_closed").count() == 3
    fan_outs = [c for c in callbacks if c.__qualname__.endswith("fanout_dispatch_together")]
    assert len(fan_outs) == 1
    for lot in Auction.objects.filter(pk__in=[lot.pk for lot in lots]):
        assert lot.winner.username == "bob"
        assert lot.final_price == Decimal("110.00")


@pytest.mark.django_db
def test_expanding_a_burst_gives_every_bidder_and_owner_their_end_email_once(
    auction_create, frozen_clock, mailbox
):
    lots = closed_auctions(auction_create, frozen_clock, 3)
    auctions.auctions_close([lot.pk for lot in lots])
    event_ids = list(Event.objects.filter(kind="auction_closed").values_list("id", flat=True))

    ids, unfinished = services.events_expand(event_ids)

    assert unfinished == []
    assert len(ids) == 9
    assert not Event.objects.filter(pk__in=event_ids, expanded_at__isnull=True).exists()
    assert services.events_expand(event_ids) == ([], [])  # a duplicate task: nothing new
    assert services.notification_deliver(ids) == 9
    by_recipient = Counter(m.rcpt_tos[0] for m in mailbox.snapshot())
    owners = Counter(lot.owner.email for lot in lots)
    assert by_recipient == Counter({"ann@example.com": 3, "bob@example.com": 3, **owners})
    subjects = Counter(m.subject.split(" ")[0] for m in mailbox.to("bob@example.com"))
    assert subjects == {"You": 3}  # "You won Lot n for 110.00 USD"


@pytest.mark.django_db
def test_an_event_larger_than_a_batch_is_left_for_its_own_fan_out(auction_create, frozen_clock):
    UserFactory.create_batch(6)
    announced = auction_create(title="Announced")
    [lot] = closed_auctions(auction_create, frozen_clock, 1)
    auctions.auctions_close([lot.pk])
    created = Event.objects.get(kind="auction_created", auction=announced)
    ended = Event.objects.get(kind="auction_closed")

    ids, unfinished = services.events_expand([created.pk, ended.pk], batch_size=4)

    assert unfinished == [created.pk]
    assert Notification.objects.filter(event=ended).count() == 3
    assert Notification.objects.filter(event=created).count() == 4
    assert len(ids) == 7
    rest, more = services.event_expand(created.pk, batch_size=100)
    assert not more
    assert len(rest) == 2  # the six users registered then, but the owner
    assert Notification.objects.filter(event=created).count() == 6


@pytest.mark.django_db
def test_the_burst_reads_the_same_recipients_as_one_event_at_a_time(auction_create, frozen_clock):
    quiet = UserFactory(username="quiet")
    mute = UserFactory(username="mute", email="")
    lots = closed_auctions(auction_create, frozen_clock, 2)
    frozen_clock.shift(-3600)
    for lot in lots:
        for bidder, amount in ((quiet, "120.00"), (mute, "130.00")):
            auctions.bid_place(lot.pk, bidder=bidder, amount=Decimal(amount))
    accounts.email_preferences_update(quiet, end_notices=False)
    frozen_clock.shift(3600)
    auctions.auctions_close([lot.pk for lot in lots])
    events = list(Event.objects.filter(kind="auction_closed").select_related("auction"))
    events[1].cursor = sorted(selectors.event_recipient_batch(events[1], limit=10))[0]

    together = selectors.events_recipient_batches(events, limit=10)

    for event in events:
        assert together[event.pk] == selectors.event_recipient_rows(event, limit=10)
    ids = [recipient.id for recipient in together[events[0].pk]]
    assert quiet.pk not in ids
    assert mute.pk not in ids
    assert ids == sorted(ids)


@pytest.mark.django_db(transaction=True)
def test_twenty_auctions_ending_in_the_same_second_email_everyone_once(mailbox, start_worker):
    owner, ann, bob = UserFactory(), UserFactory(), UserFactory()
    start_worker(queues="notifications")
    start_worker(beat=True, queues="closing").wait_ready()
    end_time = clock.now().replace(microsecond=0) + timedelta(seconds=6)
    for n in range(20):
        auction = auctions.auction_create(
            owner=owner,
            title=f"Burst lot {n}",
            description="",
            starting_price=Decimal("10.00"),
            price_step=Decimal("1.00"),
            end_time=end_time,
        )
        auctions.bid_place(auction.pk, bidder=ann, amount=Decimal("10.00"))
        auctions.bid_place(auction.pk, bidder=bob, amount=Decimal("11.00"))

    def end_mail():
        ends = ("You won", "Auction ended", "Your auction")
        return [m for m in mailbox.snapshot() if m.subject.startswith(ends)]

    wait_for(lambda: len(end_mail()) >= 60, timeout=40)
    assert Counter(m.rcpt_tos[0] for m in end_mail()) == Counter(
        {owner.email: 20, ann.email: 20, bob.email: 20}
    )
    assert len({m.message_id for m in end_mail()}) == 60
    assert all(m.subject.startswith("You won") for m in end_mail() if m.rcpt_tos == [bob.email])
    wait_for(lambda: not Notification.objects.exclude(status="sent").exists(), timeout=10)
    assert Event.objects.filter(kind="auction_closed").count() == 20
