"""Celery's transports as the service uses them: kombu's Redis transport with one Redis
client per channel, and kombu's filesystem transport (the embedded broker of `make run`)
with messages that are published whole or not at all.

Redis. kombu builds a `redis.Redis` client for every message it publishes and every
delivery it records (`Channel.conn_or_acquire`): the connection comes from the channel's
pool either way, but building the client (its table of about 170 reply handlers) cost about
a third of a millisecond, a quarter of publishing one task. A `redis.Redis` client is safe
to share between threads: each command takes a connection from the pool. Used for
`redis://` brokers (`CELERY_BROKER_TRANSPORT` in settings).

Filesystem. kombu's channel creates a message's file in the queue's folder, then writes it;
a consumer polling the folder may take the file in between, read it empty, and a JSON error
out of the consumer stops the Celery worker ("Unrecoverable error"). A producer killed
between the two steps leaves such a file for good. Here a message is written under a name
no consumer reads (`.part`) and renamed into place, which is atomic; a consumer takes a
file by renaming it into the processed folder, so two consumers never both take one; and a
file that still cannot be decoded is set aside with an error in the log instead of stopping
the worker (the outbox sweep re-dispatches whatever it was).
"""

import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from queue import Empty
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem, redis
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

logger = logging.getLogger(__name__)


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


# A message being written: `<name>.<queue>.msg.part`, which no queue's pattern matches.
PARTIAL_SUFFIX = ".part"
# A taken message that could not be decoded, kept in the processed folder for a look.
UNREADABLE_SUFFIX = ".unreadable"


class FilesystemChannel(filesystem.Channel):
    """kombu's filesystem channel; the folders must be on one filesystem (settings'
    `filesystem_broker_options` puts them in one directory)."""

    def _put(self, queue: str, payload: dict, **kwargs) -> None:
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        path = os.path.join(self.data_folder_out, name)
        partial = path + PARTIAL_SUFFIX
        body = str_to_bytes(dumps(payload))
        try:
            with open(partial, "wb") as file:
                file.write(body)
            os.replace(partial, path)
        except OSError as exc:
            with suppress(OSError):
                os.remove(partial)
            raise ChannelError(f"Cannot add file {path!r} to directory") from exc

    def _get(self, queue: str) -> dict:
        wanted = f"{queue}.msg"
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.partition(".")[2] != wanted:
                continue
            taken = os.path.join(self.processed_folder, name)
            try:
                os.replace(os.path.join(self.data_folder_in, name), taken)
            except FileNotFoundError:
                continue  # another consumer took it
            except OSError as exc:
                raise ChannelError(f"Cannot take file {name!r} from queue.") from exc
            try:
                with open(taken, "rb") as file:
                    payload = file.read()
                message = loads(bytes_to_str(payload))
            except (OSError, ValueError):
                logger.exception("Unreadable message %s set aside", name)
                with suppress(OSError):
                    os.replace(taken, taken + UNREADABLE_SUFFIX)
                continue
            if not self.store_processed:
                os.remove(taken)
            return message
        raise Empty()


class FilesystemTransport(filesystem.Transport):
    Channel = FilesystemChannel
