"""Settings: every knob is read from the environment, with a default that makes `make run`
work on a bare machine (SQLite, an embedded broker, mail written to files).

The variables are exactly those the README lists. Optional integrations switch on by the
presence of their variable (`CELERY_BROKER_URL=redis://...` also moves the cache to Redis).
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
import dj_email_url
from django.core.exceptions import ImproperlyConfigured

from config.secret_file import secret_key_load

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def filesystem_broker_options(directory: Path) -> dict:
    """kombu's filesystem transport: one directory of message files, polled every 50 ms."""
    for sub in ("in", "processed", "control"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    return {
        "control_folder": str(directory / "control"),
        "data_folder_in": str(directory / "in"),
        "data_folder_out": str(directory / "in"),
        "processed_folder": str(directory / "processed"),
        "store_processed": False,
        "polling_interval": 0.05,
    }


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit():
        raise ImproperlyConfigured(f"{name} must be a whole number >= 0, not {value!r}")
    return int(value)


def env_rate(name: str, default: str) -> tuple[int, int] | None:
    """A rate as DRF writes them, `N/period` (`100/day`, `10/hour`; the period's first
    letter decides: s, m, h, d), as (N, seconds); empty or `none` is no limit."""
    value = os.environ.get(name, default).strip().lower()
    if value in {"", "none", "off"}:
        return None
    count, _, period = value.partition("/")
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}.get(period[:1])
    if not count.isdigit() or seconds is None:
        raise ImproperlyConfigured(f"{name} must look like 100/day, not {value!r}")
    return int(count), seconds


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

# A random key per checkout is fine for `make run`; production sets SECRET_KEY.
SECRET_KEY = os.environ.get("SECRET_KEY") or secret_key_load(VAR_DIR / "secret_key")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

# --- Behind TLS ---------------------------------------------------------------------------
# HTTPS=true: the site is reached over https only (directly or through a TLS proxy): the
# admin's session and CSRF cookies are sent over https only, and browsers are told to keep
# to https (HSTS) for SECURE_HSTS_SECONDS.
HTTPS = env_bool("HTTPS", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 31_536_000 if HTTPS else 0))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# The header a TLS-terminating proxy sets to `https` (e.g. X-Forwarded-Proto). Only set it
# when the proxy always sets or overwrites that header: a client could send it otherwise.
if os.environ.get("SECURE_PROXY_SSL_HEADER"):
    _proto_header = os.environ["SECURE_PROXY_SSL_HEADER"].strip().upper().replace("-", "_")
    SECURE_PROXY_SSL_HEADER = (f"HTTP_{_proto_header}", "https")
# Base of the links in emails ("see the auction").
SITE_URL = os.environ.get("SITE_URL", f"http://127.0.0.1:{os.environ.get('PORT', '8000')}")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    # Before drf_spectacular: its templates/drf_spectacular/redoc.html overrides the stock one.
    "common",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "oauth2_provider",
    # Its index expressions (OpClass) build the search's trigram indexes (auctions 0004).
    "django.contrib.postgres",
    "accounts",
    "auctions",
    "notifications",
]

MIDDLEWARE = [
    # First: a body too large, or in a charset that is no text encoding, is refused unread.
    "common.middleware.RequestBodyGuardMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
# Both `/auctions` and `/auctions/` are routed explicitly; no redirect, so POST never breaks.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
# SQLite is the embedded default; PostgreSQL is the truth (DATABASE_URL=postgres://...).
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=600)}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["CONN_MAX_AGE"] = 0
    _db["OPTIONS"] = {
        # Every transaction.atomic() starts with BEGIN IMMEDIATE: the write lock is taken
        # up front, so two bids never read the same price (SQLite ignores FOR UPDATE).
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,  # busy timeout, seconds
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests use a file, not shared-cache memory: concurrent threads then see real locking.
    _db["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
elif _db["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, with a health check that asks the socket instead of the server.
    _db["ENGINE"] = "common.db"
    _db["CONN_HEALTH_CHECKS"] = True
    # The hot path's statements are kept prepared on each session (common/prepared.py).
    # Off behind a pooler that may give the next transaction another server session.
    _db["PREPARED_STATEMENTS"] = env_bool("DATABASE_PREPARED_STATEMENTS", True)
    # A lock wait longer than LOCK_TIMEOUT_MS becomes a clean "busy" answer instead of a hung
    # worker; a statement longer than STATEMENT_TIMEOUT_MS is cut (503 `busy` too). Set at
    # the start of every transaction and of every session, never as a startup parameter,
    # which a pooler refuses or drops (common/db/base.py). 0 turns one off.
    _db["LOCK_TIMEOUT_MS"] = env_int("DATABASE_LOCK_TIMEOUT_MS", 5000)
    _db["STATEMENT_TIMEOUT_MS"] = env_int("DATABASE_STATEMENT_TIMEOUT_MS", 30000)
else:
    raise ImproperlyConfigured(f"Unsupported DATABASE_URL engine: {_db['ENGINE']}")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The largest request body accepted, in bytes: a longer one is a 413 before it is read
# (common/middleware.py). No request of the API comes near 1 MB.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DATA_UPLOAD_MAX_MEMORY_SIZE", 1024 * 1024))

# --- Cache (throttling) -------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CELERY_BROKER_URL,
            "KEY_PREFIX": "auction",
        }
    }
else:
    # Shared by every process of one machine (gunicorn workers and the Celery worker).
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- Auth ---------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

OAUTH2_PROVIDER = {
    "ACCESS_TOKEN_EXPIRE_SECONDS": int(os.environ.get("ACCESS_TOKEN_EXPIRE_SECONDS", 3600)),
    "REFRESH_TOKEN_EXPIRE_SECONDS": int(timedelta(days=30).total_seconds()),
    # A used refresh token is revoked at once: no grace period for replays.
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    "ROTATE_REFRESH_TOKEN": True,
    # A refresh token used a second time (a stolen copy, or the thief's after the owner's)
    # revokes its whole family: every token descended from the same login.
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    # Only the SHA-256 of each access and refresh token is stored (`token_checksum`, which
    # every lookup uses); the `token` column stays blank (RFC 9700, section 4).
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    # No implicit grant, and PKCE with S256 only: no client of the service needs either.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "PKCE_REQUIRED": True,
    "SCOPES": {"read": "Read auctions and bids", "write": "Create auctions and place bids"},
    "DEFAULT_SCOPES": ["read", "write"],
    # Refuses the tokens of deactivated users at /o/ too (refresh, protected views).
    "OAUTH2_VALIDATOR_CLASS": "accounts.oauth.AccountOAuth2Validator",
}
LOGIN_URL = "/admin/login/"

# --- REST framework -----------------------------------------------------------------------
LOGIN_THROTTLE_RATE = os.environ.get("LOGIN_THROTTLE_RATE", "10/min")
# Failed logins on one account from any address (accounts/throttling.py says what a full
# window refuses: only the addresses that failed on that account).
LOGIN_ACCOUNT_THROTTLE_RATE = os.environ.get("LOGIN_ACCOUNT_THROTTLE_RATE", "5/min")
# Days a successful login keeps its (account, address) pair known: a known pair is still
# checked when its address, or mostly its account, has used up its failures.
LOGIN_KNOWN_ADDRESS_DAYS = int(os.environ.get("LOGIN_KNOWN_ADDRESS_DAYS", "30"))
REGISTER_THROTTLE_RATE = os.environ.get("REGISTER_THROTTLE_RATE", "100/hour")
# Behind N proxies that each append the address they saw to `X-Forwarded-For`, a client is
# the Nth address from the right of that header; unset, it is `REMOTE_ADDR`.
NUM_PROXIES = int(os.environ["NUM_PROXIES"]) if os.environ.get("NUM_PROXIES") else None

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["common.permissions.ReadPublicWriteAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["common.parsers.DecimalJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["common.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "common.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "common.errors.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "common.schema.AutoSchema",
    "DEFAULT_THROTTLE_RATES": {
        "login": LOGIN_THROTTLE_RATE,
        "login_account": LOGIN_ACCOUNT_THROTTLE_RATE,
        "register": REGISTER_THROTTLE_RATE,
    },
    "COERCE_DECIMAL_TO_STRING": True,
    "NUM_PROXIES": NUM_PROXIES,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Auction service API",
    "DESCRIPTION": (
        "English (ascending) auctions: register, create auctions, bid; closing on the second "
        "and email notifications. Errors are RFC 9457 problem details with a stable `code`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "AuctionStatusEnum": ["active", "finished"],
        "NotificationStatusEnum": "notifications.models.Notification.Status",
    },
    "PREPROCESSING_HOOKS": ["common.schema.drop_trailing_slash_twins"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "common.schema.problem_media_type",
    ],
}

# --- Email --------------------------------------------------------------------------------
EMAIL_URL = os.environ.get("EMAIL_URL", "")
if EMAIL_URL:
    _email = dj_email_url.parse(EMAIL_URL)
    EMAIL_BACKEND = _email["EMAIL_BACKEND"]
    EMAIL_HOST = _email["EMAIL_HOST"]
    EMAIL_PORT = _email["EMAIL_PORT"]
    EMAIL_HOST_USER = _email["EMAIL_HOST_USER"]
    EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"]
    EMAIL_USE_TLS = _email["EMAIL_USE_TLS"]
    EMAIL_USE_SSL = _email["EMAIL_USE_SSL"]
    EMAIL_FILE_PATH = _email.get("EMAIL_FILE_PATH") or str(VAR_DIR / "mail")
else:
    # Without EMAIL_URL, each message is written as a file under var/mail/.
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(VAR_DIR / "mail")
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Auctions <auctions@localhost>")

# --- Celery -------------------------------------------------------------------------------
# Without CELERY_BROKER_URL the broker is a directory (kombu's filesystem transport, with
# messages published whole: see common/broker.py): no server at all;
# `filesystem:///some/dir` names the directory (default var/broker). It may lose a message
# that was in flight when a worker died; the outbox sweep re-dispatches anything
# undelivered, so notifications are never lost.
CELERY_BROKER_URL = CELERY_BROKER_URL or f"filesystem://{VAR_DIR / 'broker'}"
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = Path(CELERY_BROKER_URL.removeprefix("filesystem://") or VAR_DIR / "broker")
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(_broker_dir)
    CELERY_BROKER_TRANSPORT = "common.broker:FilesystemTransport"
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Redeliver a task whose worker died within a minute, not the default hour. No task
        # of the product has an eta further away than a few seconds, so this is safe.
        "visibility_timeout": 60,
        "unacked_restore_interval": 5,
    }
    if CELERY_BROKER_URL.startswith("redis://"):
        # kombu's Redis transport, sharing one client per channel (see common/broker.py)
        CELERY_BROKER_TRANSPORT = "common.broker:Transport"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing must never hang a request when the broker is down: fail fast, the outbox
# sweep sends it later.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY = False
CELERY_TASK_ALWAYS_EAGER = False

# --- Product knobs ------------------------------------------------------------------------

BIDS_IN_DETAIL = 100
# How many auctions one user may create per period (`N/day`, `N/hour`...): every new
# auction emails every user, so an account must not be able to fire them without end.
AUCTION_CREATE_LIMIT = env_rate("AUCTION_CREATE_LIMIT", "100/day")
# Watchers get one "ending soon" email this long before an auction's effective end (not
# for auctions shorter than this from creation to end_time).
WATCH_REMINDER_SECONDS = int(os.environ.get("WATCH_REMINDER_SECONDS", 3600))
# Exposes /api/v1/bench/floor (one primary-key SELECT through DRF) for `make bench`.
BENCH_MODE = env_bool("BENCH_MODE", False)

# --- I18N, static -------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}

# --- Notifications ------------------------------------------------------------------------
# Fan-out: recipients per task, sent over one SMTP connection.
NOTIFICATION_BATCH_SIZE = int(os.environ.get("NOTIFICATION_BATCH_SIZE", 500))
# New-bid events are published together, per process, every this many seconds (0: each alone).
NOTIFICATION_DISPATCH_WINDOW_SECONDS = float(
    os.environ.get("NOTIFICATION_DISPATCH_WINDOW_SECONDS", 0.5)
)
# Retries of a message the server refused for now (4xx): 5 s, 10 s, 20 s ... capped at
# 10 min; after 20 such refusals it is failed. A mail server that cannot be reached counts
# no attempt: its messages wait (backoff capped at 10 min) however long it is down.
NOTIFICATION_RETRY_BASE_SECONDS = float(os.environ.get("NOTIFICATION_RETRY_BASE_SECONDS", 5))
NOTIFICATION_RETRY_MAX_SECONDS = 600
NOTIFICATION_MAX_ATTEMPTS = 20
# A claimed notification not sent within this time is offered to another worker.
NOTIFICATION_CLAIM_SECONDS = 120
# How often the sweep runs, and after how long it re-dispatches work with no progress.
NOTIFICATION_RECOVER_INTERVAL_SECONDS = 10.0
NOTIFICATION_RECOVER_AFTER_SECONDS = float(os.environ.get("NOTIFICATION_RECOVER_AFTER_SECONDS", 10))

# --- Retention ----------------------------------------------------------------------------
# Hourly jobs delete sent notifications, finished events and expired OAuth tokens older than
# these ages, RETENTION_BATCH_SIZE rows per transaction (never a long lock).
NOTIFICATION_RETENTION_DAYS = float(os.environ.get("NOTIFICATION_RETENTION_DAYS", 30))
EVENT_RETENTION_DAYS = float(os.environ.get("EVENT_RETENTION_DAYS", 30))
RETENTION_BATCH_SIZE = int(os.environ.get("RETENTION_BATCH_SIZE", 1000))
# django-oauth-toolkit's `clear_expired` deletes expired access tokens, and refresh tokens
# REFRESH_TOKEN_EXPIRE_SECONDS after their access token expired, in batches of this size.
OAUTH2_PROVIDER.setdefault("CLEAR_EXPIRED_TOKENS_BATCH_SIZE", RETENTION_BATCH_SIZE)
