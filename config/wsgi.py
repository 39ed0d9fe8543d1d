"""WSGI entry point for the REST API (gunicorn sync workers)."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()


def _broker_transport_load() -> None:
    """Import the broker's transport now, while the worker boots, not during the first
    request that publishes a task: for Redis that import (kombu's transport and redis-py)
    takes about half a second, which the first bid a worker accepts would otherwise wait.
    Nothing connects here; the connection is opened by the first publication, as before."""
    from config.celery import app

    app.connection_for_write().release()


_broker_transport_load()


# Everything loaded so far (Django, DRF, the project, the broker's transport: about 110,000
# objects) lives as long as the worker. `gc.freeze()` moves it out of the collector's
# generations, so a full collection, which a worker runs every few hundred requests, scans
# only what requests left behind: about 30 ms of one of the two workers stopped, every time,
# before; well under a millisecond after. Called last, once the worker has loaded everything.
gc.freeze()
