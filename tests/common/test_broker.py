"""The service's transports: Redis with one client per channel; the filesystem broker
(`make run`'s) never hands a consumer a message that is not whole, and survives one that
is not."""

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kombu import Connection

from common.broker import FilesystemTransport, Transport
from config.settings import filesystem_broker_options

URL = os.environ.get("CELERY_BROKER_URL", "")


@pytest.mark.skipif(
    not URL.startswith("redis://"), reason="needs a Redis broker (CELERY_BROKER_URL=redis://...)"
)
def test_messages_go_through_and_the_channel_keeps_one_client():
    with Connection(URL, transport=Transport) as connection:
        queue = connection.SimpleQueue(f"test-broker-{os.getpid()}")
        try:
            channel = queue.channel
            with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
                assert first is second
            for n in range(3):
                queue.put({"n": n})
            received = []
            for _ in range(3):
                message = queue.get(timeout=5)
                received.append(message.payload["n"])
                message.ack()
            assert received == [0, 1, 2]
        finally:
            queue.queue.delete()
            queue.close()


@pytest.fixture
def broker_dir(tmp_path: Path) -> Path:
    return tmp_path / "broker"


@pytest.fixture
def filesystem_queue(broker_dir):
    options = filesystem_broker_options(broker_dir)
    with Connection(
        "filesystem://", transport=FilesystemTransport, transport_options=options
    ) as connection:
        # kombu's filesystem transport remembers declared queues per process, not per
        # directory: a name of its own for each test's directory.
        queue = connection.SimpleQueue(f"jobs-{broker_dir.parent.name}")
        yield queue
        queue.close()


def _files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_a_published_message_appears_whole_under_its_queue_name(filesystem_queue, broker_dir):
    filesystem_queue.put({"n": 1})
    [name] = _files(broker_dir / "in")
    assert name.endswith(f".{filesystem_queue.queue.name}.msg")
    message = filesystem_queue.get(timeout=1)
    assert message.payload == {"n": 1}
    message.ack()
    assert _files(broker_dir / "in") == []
    assert _files(broker_dir / "processed") == []


PRODUCER = """
import json, sys
from kombu import Connection
from common.broker import FilesystemTransport
options, queue = json.loads(sys.argv[1]), sys.argv[2]
with Connection("filesystem://", transport=FilesystemTransport, transport_options=options) as c:
    q = c.SimpleQueue(queue)
    for n in range(5):
        q.put({"n": n, "pad": "x" * 4_000_000})
"""


def test_a_consumer_polling_while_another_process_publishes_gets_every_message_whole(
    broker_dir, filesystem_queue
):
    # Large messages take milliseconds to write: a consumer polling all the while would
    # take a file written in place before it is whole (kombu's own channel: most runs).
    options = {**filesystem_broker_options(broker_dir), "polling_interval": 0}
    producer = subprocess.Popen(
        [sys.executable, "-c", PRODUCER, json.dumps(options), filesystem_queue.queue.name],
        cwd=Path(__file__).resolve().parents[2],
    )
    received = []
    deadline = time.monotonic() + 30
    while len(received) < 5 and time.monotonic() < deadline:
        try:
            message = filesystem_queue.get(timeout=0.01)
        except filesystem_queue.Empty:
            continue
        received.append((message.payload["n"], len(message.payload["pad"])))
        message.ack()
    assert producer.wait(30) == 0
    assert received == [(n, 4_000_000) for n in range(5)]


def test_a_message_still_being_written_is_not_taken(filesystem_queue, broker_dir):
    # What a producer has written so far, under the name it writes to before the rename.
    partial = f"1_a.{filesystem_queue.queue.name}.msg.part"
    (broker_dir / "in" / partial).write_bytes(b'{"body": "eyJu')
    with pytest.raises(filesystem_queue.Empty):
        filesystem_queue.get(timeout=0.2)
    filesystem_queue.put({"n": 2})
    message = filesystem_queue.get(timeout=1)
    assert message.payload == {"n": 2}
    message.ack()
    assert _files(broker_dir / "in") == [partial]


def test_an_unreadable_message_is_set_aside_and_the_next_one_is_delivered(
    filesystem_queue, broker_dir, caplog
):
    # An empty message file, as kombu's own channel leaves when its producer is killed
    # between creating and writing it (a process of an earlier release, say), older than
    # the next message (names sort by time).
    name = f"0_b.{filesystem_queue.queue.name}.msg"
    (broker_dir / "in" / name).write_bytes(b"")
    filesystem_queue.put({"n": 3})
    with caplog.at_level(logging.ERROR, logger="common.broker"):
        message = filesystem_queue.get(timeout=1)
    assert message.payload == {"n": 3}
    message.ack()
    assert _files(broker_dir / "processed") == [f"{name}.unreadable"]
    assert f"Unreadable message {name} set aside" in caplog.text
