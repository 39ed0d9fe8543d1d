"""Nothing is lost when the mail server, the broker or a worker is down for a while."""

import os
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from django.conf import settings

from config.celery import app as celery_app
from notifications.models import Notification
from notifications.services import MARK_EVERY
from tests.factories import UserFactory
from tests.notifications.test_delivery_end_to_end import bid, create_auction
from tests.support.worker import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker_outage():
    """Point this process's Celery producer at a port where nothing listens; calling the
    fixture's value ends the outage. Celery prefers the CELERY_BROKER_URL environment
    variable (set for the PostgreSQL + Redis run) to its setting: both are moved."""

    def reset_pools():
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    conf = celery_app.conf
    saved = (conf.broker_url, conf.broker_transport, conf.broker_transport_options)
    saved_env = os.environ.get("CELERY_BROKER_URL")
    down = "redis://127.0.0.1:9/0"
    conf.broker_url, conf.broker_transport = down, "common.broker:Transport"
    conf.broker_transport_options = {}
    if saved_env is not None:
        os.environ["CELERY_BROKER_URL"] = down
    reset_pools()

    def restore():
        conf.broker_url, conf.broker_transport, conf.broker_transport_options = saved
        if saved_env is not None:
            os.environ["CELERY_BROKER_URL"] = saved_env
        reset_pools()

    yield restore
    restore()


def test_smtp_down_while_a_bid_is_placed_the_email_arrives_when_it_is_back(
    client_for, smtp_server, mailbox, start_worker
):
    owner, ann, bob = client_for("owner"), client_for("ann"), client_for("bob")
    auction = create_auction(owner, title="Brass bell")
    bid(ann, auction["id"], "100.00")
    smtp_server.stop()
    try:
        start_worker(beat=True)
        bid(bob, auction["id"], "105.00")  # 201 although no mail server answers
        # The worker tried and failed: the outbid notice waits, with a recorded error, and
        # without an attempt counted against it (the server is down, not the message bad).
        wait_for(
            lambda: Notification.objects.filter(kind="outbid").exclude(last_error="").exists(),
            timeout=20,
        )
        assert Notification.objects.get(kind="outbid").attempts == 0
        assert not mailbox.to("ann@example.com")
    finally:
        smtp_server.start()

    wait_for(lambda: any("outbid" in m.subject for m in mailbox.to("ann@example.com")), timeout=30)
    outbid = [m for m in mailbox.to("ann@example.com") if "outbid" in m.subject]
    assert len(outbid) == 1
    # Marked sent once the server has accepted it: just after the mailbox has it.
    wait_for(lambda: Notification.objects.get(kind="outbid").status == "sent", timeout=10)


def test_broker_down_while_an_auction_is_created_the_emails_arrive_when_it_is_back(
    client_for, mailbox, start_worker, broker_outage
):
    owner = client_for("owner")
    others = [UserFactory() for _ in range(3)]

    auction = create_auction(owner, title="Silver spoon")  # 201: publishing failed quietly

    end_outage = broker_outage
    end_outage()
    assert auction["title"] == "Silver spoon"
    start_worker(beat=True)
    wait_for(lambda: len(mailbox.snapshot()) >= 3, timeout=30)
    recipients = Counter(item.rcpt_tos[0] for item in mailbox.snapshot())
    assert recipients == Counter({user.email: 1 for user in others})


def test_a_worker_killed_in_the_middle_of_a_fan_out_leaves_every_recipient_one_message(
    client_for, mailbox, start_worker
):
    owner = client_for("owner")
    users = UserFactory.create_batch(600)
    mailbox.delay = 0.004  # a slow mail server, so the kill lands mid-way
    worker = start_worker(concurrency=2)

    create_auction(owner, title="Grand piano")
    wait_for(lambda: len(mailbox.snapshot()) >= 100, timeout=30)
    worker.kill()
    received_at_kill = len(mailbox.snapshot())
    assert received_at_kill < len(users), "the fan-out finished before the kill"

    mailbox.delay = 0.0
    start_worker(beat=True, concurrency=2)
    wait_for(lambda: len({m.rcpt_tos[0] for m in mailbox.snapshot()}) >= len(users), timeout=60)
    wait_for(
        lambda: not Notification.objects.exclude(status="sent").exists(),
        timeout=30,
    )

    copies: dict[str, list[str]] = defaultdict(list)
    for item in mailbox.snapshot():
        copies[item.rcpt_tos[0]].append(item.message_id)
    assert set(copies) == {user.email for user in users}
    # Exactly one message per recipient: a copy sent again after the crash (accepted by
    # the server, not yet marked sent when the worker died) carries the same Message-ID.
    assert all(len(set(ids)) == 1 for ids in copies.values())
    duplicates = sum(len(ids) - 1 for ids in copies.values())
    # At most what was accepted but not yet recorded when the worker died, per thread.
    assert duplicates <= MARK_EVERY * 2
    assert Notification.objects.count() == len(users)
    print(f"\nkilled after {received_at_kill} messages; resent after the crash: {duplicates}")


def test_recovery_skips_what_was_already_sent(client_for, mailbox, start_worker):
    owner, ann, bob = client_for("owner"), client_for("ann"), client_for("bob")
    auction = create_auction(owner, title="Tin drum", seconds=3600)
    bid(ann, auction["id"], "100.00")
    bid(bob, auction["id"], "105.00")
    start_worker(beat=True)
    wait_for(lambda: Notification.objects.filter(status="sent").count() == 3)
    # Let several sweeps run (every second in tests): nothing is sent twice.
    time.sleep(2.5)
    assert Counter(m.rcpt_tos[0] for m in mailbox.snapshot()) == Counter(
        {"ann@example.com": 2, "bob@example.com": 1}
    )


@pytest.mark.skipif(
    not settings.TEST_BROKER_URL.startswith("filesystem://"),
    reason="the embedded broker's message files",
)
def test_a_worker_that_meets_an_unreadable_message_file_keeps_delivering(
    client_for, mailbox, start_worker
):
    # An empty message file at the head of the queue, as kombu's own channel leaves when
    # its producer is killed between creating and writing it: a worker that took one
    # stopped with "Unrecoverable error".
    inbox = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
    (inbox / "0_unreadable.notifications.msg").write_bytes(b"")
    owner = client_for("owner")
    reader = UserFactory()
    worker = start_worker()
    create_auction(owner, title="Copper kettle")
    wait_for(lambda: mailbox.to(reader.email), timeout=30)
    assert "Unreadable message 0_unreadable.notifications.msg set aside" in worker.log()
