"""The Redis transport shares one client per channel and still carries every message."""

import os

import pytest
from kombu import Connection

from common.broker import Transport

URL = os.environ.get("CELERY_BROKER_URL", "")
pytestmark = pytest.mark.skipif(
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
