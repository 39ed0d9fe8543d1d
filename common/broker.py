"""Celery's Redis transport (kombu's), with one Redis client per channel for its plain
commands instead of a new one per command.

kombu builds a `redis.Redis` client for every message it publishes and every delivery it
records (`Channel.conn_or_acquire`): the connection comes from the channel's pool either
way, but building the client (its table of about 170 reply handlers) cost about a third of
a millisecond, a quarter of publishing one task. A `redis.Redis` client is safe to share
between threads: each command takes a connection from the pool. Used for `redis://`
brokers (`CELERY_BROKER_TRANSPORT` in settings); everything else is kombu's.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from kombu.transport import redis


class Channel(redis.Channel):
    _kept_client = None

    @contextmanager
    def conn_or_acquire(self, client=None) -> Iterator:
        if client:
            yield client
            return
        kept = self._kept_client
        if kept is None or kept.connection_pool is not self.pool:  # a new pool: a new client
            kept = self._kept_client = self._create_client()
        yield kept


class Transport(redis.Transport):
    Channel = Channel
