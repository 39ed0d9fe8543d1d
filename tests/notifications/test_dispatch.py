"""New-bid events published in batches (notifications/dispatch.py): the events of one window
go out as one task, which a real worker expands and delivers together; nothing is lost when
publishing fails; a window of 0 publishes each event at once."""

import logging
from collections import Counter

import pytest

from notifications import dispatch, tasks
from notifications.models import Event, Notification
from tests.notifications.test_delivery_end_to_end import (
    assert_one_recipient_per_message,
    bid,
    create_auction,
)
from tests.notifications.test_faults import broker_outage  # noqa: F401 (a fixture)
from tests.support.worker import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def published(monkeypatch):
    """The batches this process publishes, as they are published (then really published)."""
    batches: list[list[int]] = []
    delay = tasks.events_fanout_task.delay

    def recording(event_ids):
        batches.append(list(event_ids))
        return delay(event_ids)

    monkeypatch.setattr(tasks.events_fanout_task, "delay", recording)
    yield batches
    dispatch.collector.flush()


def _market(client_for, count: int) -> list[int]:
    """`count` auctions on which ann has bid: bob's next bid on each tells her."""
    owner, ann = client_for("owner"), client_for("ann")
    auctions = [create_auction(owner, title=f"Lot {n}")["id"] for n in range(count)]
    for auction_id in auctions:
        bid(ann, auction_id, "100.00")
    return auctions


def test_the_new_bids_of_one_window_go_out_as_one_task(
    client_for, mailbox, start_worker, published, settings
):
    settings.NOTIFICATION_DISPATCH_WINDOW_SECONDS = 1.0
    auctions = _market(client_for, 3)
    start_worker()
    bob = client_for("bob")

    for auction_id in auctions:
        bid(bob, auction_id, "105.00")

    events = set(Event.objects.filter(kind="bid_placed").values_list("id", flat=True))
    assert len(events) == 3
    wait_for(lambda: len(published) >= 1, timeout=5)
    assert [set(batch) for batch in published] == [events]
    wait_for(lambda: len(mailbox.to("ann@example.com")) >= 3 + 3, timeout=30)
    outbid = [m for m in mailbox.to("ann@example.com") if "outbid" in m.subject]
    assert len(outbid) == 3
    assert Counter(m.subject for m in outbid).most_common(1)[0][1] == 1  # one per auction
    wait_for(lambda: Notification.objects.filter(kind="outbid", status="sent").count() == 3)


def test_a_window_of_zero_publishes_each_event_at_once(client_for, published, settings):
    settings.NOTIFICATION_DISPATCH_WINDOW_SECONDS = 0
    [auction_id] = _market(client_for, 1)

    bid(client_for("bob"), auction_id, "105.00")

    (event_id,) = Event.objects.filter(kind="bid_placed").values_list("id", flat=True)
    assert published == [[event_id]]  # before the request returned


def test_what_a_process_holds_is_published_when_it_flushes(client_for, published, settings):
    settings.NOTIFICATION_DISPATCH_WINDOW_SECONDS = 60
    [auction_id] = _market(client_for, 1)
    bid(client_for("bob"), auction_id, "105.00")
    assert published == []

    dispatch.collector.flush()

    assert published == [list(Event.objects.filter(kind="bid_placed").values_list("id", flat=True))]


def test_a_batch_the_broker_refuses_is_logged_and_the_sweep_sends_it_later(
    client_for,
    mailbox,
    start_worker,
    broker_outage,  # noqa: F811 (the fixture imported above)
    settings,
    caplog,
):
    settings.NOTIFICATION_DISPATCH_WINDOW_SECONDS = 0.05
    [auction_id] = _market(client_for, 1)
    caplog.set_level(logging.ERROR, logger="notifications.dispatch")

    bid(client_for("bob"), auction_id, "105.00")  # 201: the bid is in, with its event

    wait_for(lambda: "Could not publish" in caplog.text, timeout=10)
    end_outage = broker_outage
    end_outage()
    start_worker(beat=True)
    wait_for(lambda: any("outbid" in m.subject for m in mailbox.to("ann@example.com")), timeout=40)


def test_new_bids_on_one_auction_in_one_window_give_each_earlier_bidder_one_email_per_bid(
    client_for, mailbox, start_worker, published, settings
):
    # The contract: every user who bid before a new bid, but its bidder, gets one email with
    # the new price, however many bids they placed. Expanded together, the events of one
    # batch must still each see only the bids before their own.
    settings.NOTIFICATION_DISPATCH_WINDOW_SECONDS = 1.0
    owner = client_for("owner")
    ann, bob, cat = client_for("ann"), client_for("bob"), client_for("cat")
    auction_id = create_auction(owner, title="Copper kettle")["id"]
    start_worker()
    wait_for(lambda: len(mailbox.snapshot()) >= 3)  # the new-auction emails
    mailbox.clear()

    bid(ann, auction_id, "100.00")  # the first bid: nobody to tell
    bid(bob, auction_id, "105.00")  # tells ann
    bid(ann, auction_id, "110.00")  # tells bob
    bid(cat, auction_id, "115.00")  # tells ann and bob

    wait_for(lambda: len(published) >= 1, timeout=5)
    assert [len(batch) for batch in published] == [3]  # one task for the three events
    wait_for(lambda: len(mailbox.snapshot()) >= 4, timeout=30)
    subjects = {
        user: sorted(m.subject for m in mailbox.to(f"{user}@example.com"))
        for user in ("ann", "bob", "cat")
    }
    assert subjects == {
        "ann": [
            "You were outbid on Copper kettle: now 105.00 USD",
            "You were outbid on Copper kettle: now 115.00 USD",
        ],
        "bob": [
            "New bid on Copper kettle: 115.00 USD",  # no longer the leader when cat bid
            "You were outbid on Copper kettle: now 110.00 USD",
        ],
        "cat": [],
    }
    assert_one_recipient_per_message(mailbox)
