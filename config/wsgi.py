"""WSGI entry point for the REST API (gunicorn sync workers)."""

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
