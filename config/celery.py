"""The Celery app: background delivery of notifications and closing of auctions.

Every periodic schedule of the product is declared here, in `beat_schedule`.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("auction")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {}
