"""New-bid events published in small batches, not one task each.

On a busy market every accepted bid records an event, and each event was published as its
own fan-out task after commit: per bid, a broker message for the API to publish and a
worker to receive and acknowledge, an expansion transaction, a delivery run and a
transaction recording the sent marks, for what is mostly one or two emails. Instead, each
process collects the new-bid events its transactions commit for a short window
(`NOTIFICATION_DISPATCH_WINDOW_SECONDS`, 500 ms by default) and publishes them as one
`events_fanout_task`, which expands them in one transaction and sends their messages over
one SMTP session. The emails leave at most one window later.

Nothing is lost by waiting: an event is in the outbox, committed, before it is collected,
and the ids a process collected but could not publish (the broker down, the process killed
in between) are re-dispatched by the sweep, as a lost task is
(`NOTIFICATION_RECOVER_AFTER_SECONDS`). The collector's thread starts with the first event a
process collects (after gunicorn's fork, in the worker), and a process that exits publishes
what it still holds.
"""

import atexit
import logging
import os
import threading

from django.conf import settings

from notifications import tasks

logger = logging.getLogger(__name__)

# At most this many events per task: a batch is expanded in one transaction.
BATCH_MAX = 50


class EventCollector:
    """Collects event ids and publishes them, every window, as fan-out tasks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: list[int] = []
        self._due = threading.Event()  # something is collected
        self._hurry = threading.Event()  # cut the window short (a flush)
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def add(self, event_id: int) -> None:
        """Publish the fan-out of this committed event within one window."""
        window = settings.NOTIFICATION_DISPATCH_WINDOW_SECONDS
        if window <= 0:
            self._publish([event_id])
            return
        with self._lock:
            if self._pid != os.getpid():  # a forked child: its parent's state is not its own
                self._ids, self._thread, self._pid = [], None, os.getpid()
                self._due, self._hurry = threading.Event(), threading.Event()
            self._ids.append(event_id)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="event-collector", daemon=True
                )
                self._thread.start()
            first = len(self._ids) == 1
        if first:
            self._due.set()

    def flush(self) -> None:
        """Publish whatever this process collected, now (at exit, say)."""
        if self._pid != os.getpid():
            return  # a forked child holds nothing of its parent's
        with self._lock:
            ids, self._ids = self._ids, []
        self._publish(ids)
        self._hurry.set()

    def _run(self) -> None:
        due, hurry = self._due, self._hurry
        while True:
            due.wait()
            hurry.wait(settings.NOTIFICATION_DISPATCH_WINDOW_SECONDS)
            with self._lock:
                ids, self._ids = self._ids, []
                due.clear()
                hurry.clear()
            self._publish(ids)

    @staticmethod
    def _publish(ids: list[int]) -> None:
        for start in range(0, len(ids), BATCH_MAX):
            batch = ids[start : start + BATCH_MAX]
            try:
                tasks.events_fanout_task.delay(batch)
            except Exception:
                # Committed events wait in the outbox: the sweep re-dispatches them.
                logger.exception("Could not publish the fan-out of events %s", batch)


collector = EventCollector()
atexit.register(collector.flush)
