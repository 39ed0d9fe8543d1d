"""Test settings: only what tests need differs from production settings."""

import os

from config.settings import *  # noqa: F403
from config.settings import DATABASES, VAR_DIR, filesystem_broker_options

# Fast hashing: tests create many users.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Each test run gets its own throttle counters, cleared between tests by a fixture.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Connections are closed after each request and task, so that threads started by tests
# never keep the test database open when it is dropped. Worker processes started by tests
# keep theirs, as deployed (TEST_CONN_MAX_AGE): they are killed at the end of each test.
# (SQLite's are always closed: see settings.)
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("TEST_CONN_MAX_AGE", "0"))

# Without CELERY_BROKER_URL, each test run gets its own broker directory; worker processes
# started by the tests are handed the same URL.
if not os.environ.get("CELERY_BROKER_URL"):
    _broker_dir = VAR_DIR / f"test-broker-{os.getpid()}"
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(_broker_dir)
    TEST_BROKER_URL = f"filesystem://{_broker_dir}"
else:
    TEST_BROKER_URL = os.environ["CELERY_BROKER_URL"]

# Worker processes started by tests sweep for stalled notifications every second, and a
# crashed worker's claims expire after a few seconds.
NOTIFICATION_RECOVER_INTERVAL_SECONDS = 1.0
NOTIFICATION_CLAIM_SECONDS = 5
