"""Test settings: only what tests need differs from production settings."""

from config.settings import *  # noqa: F403
from config.settings import VAR_DIR

# Fast hashing: tests create many users.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Each test run gets its own throttle counters, cleared between tests by a fixture.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Mail goes to a real SMTP server started by the tests (tests/conftest.py sets the port).
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "127.0.0.1"
EMAIL_PORT = 2525
EMAIL_USE_TLS = False
EMAIL_USE_SSL = False
EMAIL_HOST_USER = ""
EMAIL_HOST_PASSWORD = ""
EMAIL_FILE_PATH = str(VAR_DIR / "test-mail")
