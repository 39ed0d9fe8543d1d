"""The Celery app: background delivery of notifications and closing of auctions.

Every periodic schedule of the product is declared here, in `beat_schedule`.
"""

import gc
import os

from celery import Celery, signals
from django.conf import settings
from django.db import close_old_connections
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("auction")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Database connections live as long as Django's settings say (CONN_MAX_AGE,
# CONN_HEALTH_CHECKS), as they do for a request: checked before a task, dropped after it if
# broken, in a transaction left open, or too old. Celery's Django fixup would instead close
# every connection before and after every task, so that each task of a busy mailer paid for
# a new PostgreSQL session (a server process forked, authenticated and warmed up). Giving
# the fixup a reuse count it never reaches turns its closing off; the handlers below do
# Django's.
app.conf.CELERY_DB_REUSE_MAX = 2**62


@signals.task_prerun.connect
@signals.task_postrun.connect
def _connections_check(sender: object = None, **kwargs: object) -> None:
    # A task run eagerly (`apply()`) is inside its caller's connection and transaction.
    if not getattr(getattr(sender, "request", None), "is_eager", False):
        close_old_connections()


@signals.worker_ready.connect
def _long_lived_objects_frozen(**kwargs: object) -> None:
    """What a worker loaded to start (Django, the project, Celery, kombu) lives as long as
    it does: out of the garbage collector's generations, so that a full collection scans
    only what tasks left behind, instead of stopping every thread for tens of milliseconds
    (see config/wsgi.py)."""
    gc.freeze()


# Closing never waits behind a long email fan-out: it has its own queue (and, deployed,
# its own worker).
app.conf.task_routes = {
    "auctions.tasks.*": {"queue": "closing"},
    "notifications.tasks.*": {"queue": "notifications"},
    "common.tasks.*": {"queue": "notifications"},
    "accounts.tasks.*": {"queue": "notifications"},
}
app.conf.task_default_queue = "notifications"
app.conf.task_queues = [Queue("closing"), Queue("notifications")]

app.conf.beat_schedule = {
    # every second: close due auctions, and arm a timed close for those about to end
    "close-due-auctions": {
        "task": "auctions.tasks.auctions_close_due_task",
        "schedule": 1.0,
        "options": {"expires": 5},
    },
    # every 30 seconds: remind watchers of auctions ending soon
    "remind-watchers": {
        "task": "auctions.tasks.auctions_watch_remind_task",
        "schedule": 30.0,
        "options": {"expires": 30},
    },
    # every 10 seconds (by default): re-dispatch stalled fan-outs, due retries and expired claims
    "recover-notifications": {
        "task": "notifications.tasks.notifications_recover_task",
        "schedule": settings.NOTIFICATION_RECOVER_INTERVAL_SECONDS,
        "options": {"expires": 30},
    },
    # every hour: forget idempotency keys older than a day
    "purge-idempotency-keys": {
        "task": "common.tasks.idempotency_keys_purge_task",
        "schedule": 60 * 60.0,
        "options": {"expires": 10 * 60},
    },
    # every hour: delete sent notifications older than NOTIFICATION_RETENTION_DAYS
    "purge-sent-notifications": {
        "task": "notifications.tasks.notifications_sent_purge_task",
        "schedule": 60 * 60.0,
        "options": {"expires": 10 * 60},
    },
    # every hour: delete finished events older than EVENT_RETENTION_DAYS with no row left
    "purge-events": {
        "task": "notifications.tasks.events_purge_task",
        "schedule": 60 * 60.0,
        "options": {"expires": 10 * 60},
    },
    # every hour: delete expired OAuth tokens (django-oauth-toolkit's clear_expired)
    "purge-expired-tokens": {
        "task": "accounts.tasks.tokens_expired_purge_task",
        "schedule": 60 * 60.0,
        "options": {"expires": 10 * 60},
    },
}
