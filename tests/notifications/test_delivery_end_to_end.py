"""The three kinds of email, delivered by a real Celery worker to a real SMTP server."""

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest

from auctions import services as auction_services
from auctions.models import Auction
from common import clock
from notifications.models import Notification
from tests.factories import UserFactory
from tests.support.worker import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def create_auction(client, *, title="Blue vase", seconds=3600):
    end_time = clock.now() + timedelta(seconds=seconds)
    response = client.post(
        "/api/v1/auctions",
        {
            "title": title,
            "description": "Murano glass.",
            "starting_price": "100.00",
            "price_step": "5.00",
            "end_time": end_time.isoformat(),
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def bid(client, auction_id, amount):
    response = client.post(f"/api/v1/auctions/{auction_id}/bids", {"amount": amount}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def assert_one_recipient_per_message(mailbox):
    for item in mailbox.snapshot():
        assert len(item.rcpt_tos) == 1
        assert "," not in item.to
        assert item.message["Cc"] is None
        assert item.message["Bcc"] is None


def test_new_auction_emails_every_other_user_once(client_for, mailbox, start_worker):
    owner = client_for("owner")
    others = [UserFactory() for _ in range(5)]
    start_worker()

    auction = create_auction(owner, title="Blue vase")

    wait_for(lambda: len(mailbox.snapshot()) >= 5)
    received = mailbox.snapshot()
    recipients = Counter(item.rcpt_tos[0] for item in received)
    assert recipients == Counter({user.email: 1 for user in others})
    assert "owner@example.com" not in recipients
    assert_one_recipient_per_message(mailbox)
    message = received[0]
    assert "Blue vase" in message.subject
    text = message.part("text/plain")
    assert "100.00" in text
    assert "5.00" in text
    assert f"/api/v1/auctions/{auction['id']}" in text
    assert "Blue vase" in message.part("text/html")
    wait_for(lambda: Notification.objects.filter(status="sent").count() == 5)


def test_new_bid_emails_earlier_bidders_but_not_the_new_bidder(client_for, mailbox, start_worker):
    owner = client_for("owner")
    ann, bob, cat = client_for("ann"), client_for("bob"), client_for("cat")
    auction = create_auction(owner, title="Old clock")
    bid(ann, auction["id"], "100.00")
    bid(bob, auction["id"], "105.00")  # ann is outbid
    bid(cat, auction["id"], "110.00")  # bob is outbid; ann hears of a new bid
    start_worker()

    def bid_mail():
        return [item for item in mailbox.snapshot() if "New auction" not in item.subject]

    wait_for(lambda: len(bid_mail()) >= 3)
    by_recipient = Counter(item.rcpt_tos[0] for item in bid_mail())
    assert by_recipient == Counter({"ann@example.com": 2, "bob@example.com": 1})
    subjects = {item.rcpt_tos[0]: [] for item in bid_mail()}
    for item in bid_mail():
        subjects[item.rcpt_tos[0]].append(item.subject)
    assert sorted(subjects["ann@example.com"]) == [
        "New bid on Old clock: 110.00 USD",
        "You were outbid on Old clock: now 105.00 USD",
    ]
    assert subjects["bob@example.com"] == ["You were outbid on Old clock: now 110.00 USD"]
    outbid_text = mailbox.to("bob@example.com")[-1].part("text/plain")
    assert "110.00" in outbid_text
    assert "115.00" in outbid_text
    assert_one_recipient_per_message(mailbox)


def test_end_emails_tell_the_winner_the_other_bidders_and_the_owner(
    client_for, mailbox, start_worker
):
    owner = client_for("owner")
    ann, bob = client_for("ann"), client_for("bob")
    auction = create_auction(owner, title="Red chair", seconds=3)
    bid(ann, auction["id"], "100.00")
    bid(bob, auction["id"], "120.00")
    start_worker(beat=True)

    wait_for(lambda: Auction.objects.get(pk=auction["id"]).closed_at, timeout=15)
    closed = Auction.objects.get(pk=auction["id"])
    assert closed.winner.username == "bob"
    assert closed.final_price == Decimal("120.00")

    def end_mail():
        before_end = ("New auction", "New bid", "You were outbid")
        return [i for i in mailbox.snapshot() if not i.subject.startswith(before_end)]

    wait_for(lambda: len(end_mail()) >= 3)
    subjects = {item.rcpt_tos[0]: item.subject for item in end_mail()}
    assert subjects == {
        "bob@example.com": "You won Red chair for 120.00 USD",
        "ann@example.com": "Auction ended: Red chair",
        "owner@example.com": "Your auction Red chair sold to bob for 120.00 USD",
    }
    assert "bob" in mailbox.to("owner@example.com")[-1].part("text/plain")
    assert len(end_mail()) == 3
    assert_one_recipient_per_message(mailbox)


def test_an_auction_nobody_bid_on_tells_only_the_owner(client_for, mailbox, start_worker):
    owner = client_for("owner")
    auction = create_auction(owner, title="Lonely lamp", seconds=2)
    start_worker(beat=True)

    wait_for(lambda: mailbox.to("owner@example.com"), timeout=15)
    [message] = mailbox.to("owner@example.com")
    assert message.subject == "Your auction Lonely lamp ended with no bids"
    assert Auction.objects.get(pk=auction["id"]).winner is None


def test_fifty_auctions_ending_in_the_same_second_all_get_their_winner(mailbox, start_worker):
    owner, ann, bob = UserFactory(), UserFactory(), UserFactory()
    # As deployed: closing has its own worker (and the beat); mail has another.
    start_worker(queues="notifications")
    start_worker(beat=True, queues="closing").wait_ready()
    # Time to create 50 auctions and their bids, even on a busy machine.
    end_time = clock.now().replace(microsecond=0) + timedelta(seconds=8)
    auctions = []
    for n in range(50):
        auction = auction_services.auction_create(
            owner=owner,
            title=f"Lot {n}",
            description="",
            starting_price=Decimal("10.00"),
            price_step=Decimal("1.00"),
            end_time=end_time,
        )
        auction_services.bid_place(auction.pk, bidder=ann, amount=Decimal("10.00"))
        if n % 2:
            auction_services.bid_place(auction.pk, bidder=bob, amount=Decimal("11.00"))
        auctions.append(auction)

    wait_for(lambda: not Auction.objects.filter(closed_at__isnull=True).exists(), timeout=30)
    delays = sorted(
        (auction.closed_at - auction.closes_at).total_seconds() for auction in Auction.objects.all()
    )
    print(f"\nclosing delay for 50 auctions: median {delays[25]:.3f} s, worst {delays[-1]:.3f} s")
    for n, auction in enumerate(Auction.objects.order_by("id")):
        assert auction.winner == (bob if n % 2 else ann)
    assert delays[0] >= 0
    assert delays[-1] < 5.0  # a loose bound; the benchmark measures the real figure
