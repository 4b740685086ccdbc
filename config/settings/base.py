"""Settings shared by every environment; every value comes from the environment.

Embedded defaults run the product with no external service: SQLite in WAL mode, a
filesystem Celery broker and an in-process cache. Point ``DATABASE_URL`` at PostgreSQL and
``REDIS_URL`` at Redis for production.
"""

from decimal import Decimal
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
env.read_env(BASE_DIR / ".env", overwrite=False)

# No default here: local.py generates one into var/, production.py requires it.
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
# Debug pages show settings and tracebacks to whoever triggers an error: development only,
# and only when asked for (DJANGO_DEBUG=true); ./run never serves with it.
DEBUG = env.bool("DJANGO_DEBUG", default=False)
# The machine itself, plus whatever DJANGO_ALLOWED_HOSTS adds (production: only that).
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", *env.list("DJANGO_ALLOWED_HOSTS", default=[])]
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "csp",
    "corsheaders",
    "catalog",
    "accounts",
    "billing",
    "gateway",
]

MIDDLEWARE = [
    "gateway.api.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # the signed-in user's time zone for the console's dates (never run for the API)
    "accounts.middleware.UserTimeZoneMiddleware",
]
# The API's requests skip the console's middleware (see config/handler.py).
# The probes and /metrics (gateway/ops) too: no session, no cookie.
API_PATH_PREFIXES = ("/v1/", "/api/v1/", "/healthz", "/readyz", "/metrics")
# The machine-readable entry points (gateway/docs) too: public, no session.
API_PATH_PREFIXES += (
    "/openapi.json",
    "/api-docs/",
    "/llms.txt",
    "/auth.md",
    "/.well-known/api-catalog",
)
API_MIDDLEWARE = [
    "gateway.api.middleware.RequestIdMiddleware",
    "gateway.api.middleware.AllowedHostMiddleware",  # before anything that reads the host
    "corsheaders.middleware.CorsMiddleware",  # the API only: the console stays same-origin
    "django.middleware.security.SecurityMiddleware",
    "gateway.api.middleware.ContentLengthMiddleware",
]
# CORS for the API (django-cors-headers): keys are bearer tokens and no cookie is used, so
# any origin by default (GATEWAY_CORS_ORIGINS="*") and never credentials; a comma-separated
# list of origins allows only those.
_cors_origins = env.list("GATEWAY_CORS_ORIGINS", default=["*"])
CORS_ALLOW_ALL_ORIGINS = _cors_origins == ["*"]
CORS_ALLOWED_ORIGINS = [] if CORS_ALLOW_ALL_ORIGINS else _cors_origins
CORS_ALLOW_CREDENTIALS = False
CORS_URLS_REGEX = r"^/(api/)?v1/"
CORS_ALLOW_HEADERS = (
    "authorization",
    "x-api-key",
    "anthropic-version",
    "anthropic-beta",
    "idempotency-key",
    "content-type",
)
CORS_EXPOSE_HEADERS = (
    "X-Request-Id",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Retry-After",
    "Idempotent-Replayed",
)

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
# Django's backend with login throttling (accounts/throttle.py): failures per email and per
# client address in a window; a throttled log-in checks no password.
AUTHENTICATION_BACKENDS = ["accounts.throttle.ThrottledModelBackend"]
ACCOUNTS_LOGIN_FAILURES_PER_EMAIL = env.int("ACCOUNTS_LOGIN_FAILURES_PER_EMAIL", default=10)
ACCOUNTS_LOGIN_FAILURES_PER_IP = env.int("ACCOUNTS_LOGIN_FAILURES_PER_IP", default=50)
ACCOUNTS_LOGIN_WINDOW_SECONDS = env.int("ACCOUNTS_LOGIN_WINDOW_SECONDS", default=900)
# Password-reset requests, throttled like failed log-ins (accounts/throttle.py), per email
# and per client address in the same window.
ACCOUNTS_RESET_REQUESTS_PER_EMAIL = env.int("ACCOUNTS_RESET_REQUESTS_PER_EMAIL", default=3)
ACCOUNTS_RESET_REQUESTS_PER_IP = env.int("ACCOUNTS_RESET_REQUESTS_PER_IP", default=20)
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The console's Content-Security-Policy (django-csp; the API's JSON answers skip it): every
# script, style, image and font from this origin only, no inline script or style, no
# framing, forms posted only here. Django's admin runs under it (its scripts are files).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

# --- Email (password reset) ---------------------------------------------------------------------
# Printed to the console (stdout) by default; EMAIL_URL (smtp+tls://user:pass@host:587) sends
# through SMTP (django-environ's email URL: smtp://, smtp+tls://, smtp+ssl://).
# (The URL itself is not kept as a setting: it holds the SMTP password.)
if env("EMAIL_URL", default=""):
    globals().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Gateway <noreply@localhost>")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env("DATABASE_URL", default="") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock at BEGIN so
    # two writers queue instead of failing with "database is locked" on lock upgrade.
    _db["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
elif _db["ENGINE"] == "django.db.backends.postgresql":
    _pool_max = env.int("DB_POOL_MAX_SIZE", default=20)
    _options = _db.setdefault("OPTIONS", {})  # keeps DATABASE_URL's ?sslmode=... and the like
    _options["prepare_threshold"] = env.int("DB_PREPARE_THRESHOLD", default=5) or None
    if env.bool("DB_POOL", default=True):
        # One pool per process; with gevent each greenlet borrows a connection for as long as
        # Django holds it, and the gateway gives it back before every upstream call.
        _options["pool"] = {
            "min_size": env.int("DB_POOL_MIN_SIZE", default=2),
            "max_size": _pool_max,
            "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
        }
        from config.pg_gevent import GeventConnection, gevent_patched

        if gevent_patched():  # the gevent web workers: wait on the event loop directly
            _options["pool"]["connection_class"] = GeventConnection
    _db["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, Redis, Celery ---------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="") or REDIS_URL or "filesystem://"
if CELERY_BROKER_URL == "filesystem://":
    _queue_dir = VAR_DIR / "celery"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_queue_dir / "processed"),
        "control_folder": str(_queue_dir / "control"),  # kombu's default: ./control
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE = {
    "holds-sweep": {"task": "gateway.tasks.holds_sweep", "schedule": 60.0},
    "idempotency-purge": {"task": "gateway.idempotency_purge", "schedule": 3600.0},
    "media-tasks-poll": {
        "task": "gateway.tasks.media_tasks_poll",
        "schedule": env.float("GATEWAY_TASK_POLL_SECONDS", default=5.0),
    },
    "media-callbacks-deliver": {
        "task": "gateway.tasks.media_callbacks_deliver",
        "schedule": env.float("GATEWAY_TASK_POLL_SECONDS", default=5.0),
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Static files -----------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- REST framework -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [],
    "EXCEPTION_HANDLER": "gateway.api.errors.exception_handler",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "gateway.api.negotiation.IgnoreAcceptNegotiation",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "gateway.api.schema.autoschema.GatewayAutoSchema",
}

# --- OpenAPI (drf-spectacular): fixed text, in config/settings/openapi.py ---
from config.settings.openapi import SPECTACULAR_SETTINGS  # noqa: E402, F401

# --- Billing ------------------------------------------------------------------------------------
# 1,000,000 credits = 1 USD, so a price in USD per 1M tokens is exactly credits per token.
BILLING_MIN_CHARGE = env.int("BILLING_MIN_CHARGE", default=100)
BILLING_FALLBACK_PROMPT_PRICE = Decimal(env("BILLING_FALLBACK_PROMPT_PRICE", default="0.05"))
BILLING_FALLBACK_COMPLETION_PRICE = Decimal(
    env("BILLING_FALLBACK_COMPLETION_PRICE", default="0.20")
)
# A request's hold expires this long after the request's deadline (its owner sets it; a
# media task's lasts as long as the task may run).
BILLING_HOLD_TTL_SECONDS = env.float("BILLING_HOLD_TTL_SECONDS", default=300.0)
# A stream's hold whose last checkpoint (or creation) is older than this belongs to a dead
# worker: the sweeper charges the checkpoint and records the request as interrupted.
BILLING_HOLD_STALE_SECONDS = env.float("BILLING_HOLD_STALE_SECONDS", default=30.0)
# The ledger's backend (billing.ledger), chosen once at start-up: "postgres" (single
# statements; PostgreSQL only) or "orm" (any database); empty chooses by the database.
BILLING_LEDGER_BACKEND = env("BILLING_LEDGER_BACKEND", default="")

# --- Payments (Stripe) --------------------------------------------------------------------------
# Without STRIPE_SECRET_KEY the credits page says payments are not configured.
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="")
# Replaces https://api.stripe.com when set (a local Stripe stand-in, in tests).
STRIPE_API_BASE = env("STRIPE_API_BASE", default="")
STRIPE_TIMEOUT_SECONDS = env.float("STRIPE_TIMEOUT_SECONDS", default=20.0)
# Where Checkout's pages are: the credits page's CSP lets its forms go on there.
STRIPE_CHECKOUT_ORIGIN = env("STRIPE_CHECKOUT_ORIGIN", default="https://checkout.stripe.com")
# A refund or dispute event that matches no payment (yet) is answered 500, so Stripe
# retries, until it is this old (from the event's ``created``); then it is ignored, logged.
BILLING_WEBHOOK_UNMATCHED_RETRY_SECONDS = env.int(
    "BILLING_WEBHOOK_UNMATCHED_RETRY_SECONDS", default=3 * 24 * 3600
)
# A custom top-up, whole USD, at the base rate (1,000,000 credits per USD).
BILLING_TOPUP_MIN_USD = env.int("BILLING_TOPUP_MIN_USD", default=5)
BILLING_TOPUP_MAX_USD = env.int("BILLING_TOPUP_MAX_USD", default=10_000)
# Auto-recharge: at most one attempt per account in this many seconds; this many declines
# in a row turn it off.
BILLING_RECHARGE_MIN_INTERVAL_SECONDS = env.int(
    "BILLING_RECHARGE_MIN_INTERVAL_SECONDS", default=600
)
BILLING_RECHARGE_MAX_DECLINES = env.int("BILLING_RECHARGE_MAX_DECLINES", default=3)
# Tiers by lifetime purchases in USD (an admin may set one instead).
BILLING_TIER_BUILDER_USD = env.int("BILLING_TIER_BUILDER_USD", default=100)
BILLING_TIER_ENTERPRISE_USD = env.int("BILLING_TIER_ENTERPRISE_USD", default=5_000)
# Asked by accounts.services for every key it creates and every rate limit it changes
# (accounts cannot import billing): the account's tier caps its keys and their rate limits.
ACCOUNTS_KEY_POLICY = "billing.payment_selectors.key_policy_check"
# Asked by accounts.services before an account is deleted: the reason to refuse (a balance
# or a hold remains), or None.
ACCOUNTS_DELETION_CHECK = "billing.payment_selectors.account_deletion_refusal"
# Asked by the keys pages for each key's spend this period (accounts cannot import gateway):
# the daily usage rollups, which count every key, limited or not.
ACCOUNTS_KEY_SPEND = "gateway.usage_selectors.key_period_spend"

# --- Gateway ------------------------------------------------------------------------------------
GATEWAY_UPSTREAM_CONNECT_TIMEOUT = env.float("GATEWAY_UPSTREAM_CONNECT_TIMEOUT", default=5.0)
GATEWAY_UPSTREAM_READ_TIMEOUT = env.float("GATEWAY_UPSTREAM_READ_TIMEOUT", default=300.0)
# A request's total time, upstream call or stream included (the read timeout is per read).
GATEWAY_REQUEST_DEADLINE_SECONDS = env.float("GATEWAY_REQUEST_DEADLINE_SECONDS", default=600.0)
# Idempotency-Key (gateway.idempotency): an answer is replayed for this long; a claim still
# pending after the stale period (longer than any request's deadline) is free again.
GATEWAY_IDEMPOTENCY_TTL_SECONDS = env.int("GATEWAY_IDEMPOTENCY_TTL_SECONDS", default=86400)
GATEWAY_IDEMPOTENCY_STALE_SECONDS = env.int("GATEWAY_IDEMPOTENCY_STALE_SECONDS", default=900)
GATEWAY_MAX_ATTEMPTS = env.int("GATEWAY_MAX_ATTEMPTS", default=3)
# Requests in their database phase at once, per process: below the pool size, so settling
# finished requests always finds a connection (see gateway/pipeline/gate.py).
GATEWAY_DB_ADMISSIONS = env.int(
    "GATEWAY_DB_ADMISSIONS", default=max(1, env.int("DB_POOL_MAX_SIZE", default=20) - 6)
)
GATEWAY_ADMISSION_TIMEOUT_SECONDS = env.float("GATEWAY_ADMISSION_TIMEOUT_SECONDS", default=30.0)
GATEWAY_MAX_BODY_BYTES = env.int("GATEWAY_MAX_BODY_BYTES", default=10 * 1024 * 1024)
GATEWAY_TRUSTED_PROXIES = env.int("GATEWAY_TRUSTED_PROXIES", default=0)
# /metrics from other addresses than loopback: Authorization: Bearer METRICS_TOKEN (empty:
# loopback only). /readyz: the holds sweeper must have run within this many seconds of now
# or of the process start (0: twice its beat period, holds-sweep).
METRICS_TOKEN = env("METRICS_TOKEN", default="")
GATEWAY_READY_SWEEP_SECONDS = env.float("GATEWAY_READY_SWEEP_SECONDS", default=0.0)
GATEWAY_CIRCUIT_FAILURES = env.int("GATEWAY_CIRCUIT_FAILURES", default=5)
GATEWAY_CIRCUIT_COOLDOWN_SECONDS = env.float("GATEWAY_CIRCUIT_COOLDOWN_SECONDS", default=30.0)
GATEWAY_CATALOG_TTL_SECONDS = env.float("GATEWAY_CATALOG_TTL_SECONDS", default=2.0)
# The product's name in Django admin's titles and on the public models page.
GATEWAY_SITE_NAME = env("GATEWAY_SITE_NAME", default="LLM API gateway")
# How long a key read for a billed request may be reused, provisionally, by this process
# (gateway/pipeline/keycache.py: the reserve re-checks it). 0 reads it on every request.
GATEWAY_KEY_CACHE_SECONDS = env.float("GATEWAY_KEY_CACHE_SECONDS", default=60.0)
GATEWAY_STREAM_KEEPALIVE_SECONDS = env.float("GATEWAY_STREAM_KEEPALIVE_SECONDS", default=10.0)
# Input tokens held for each image given by URL (its bytes say nothing of its size): above
# the largest per-image count of the providers served (OpenAI's patch-based models ~3,800,
# Anthropic ~1,600, Gemini 258 per tile).
GATEWAY_IMAGE_TOKEN_BOUND = env.int("GATEWAY_IMAGE_TOKEN_BOUND", default=8_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = GATEWAY_MAX_BODY_BYTES

# --- Media tasks (gateway.media) -----------------------------------------------------------------
# A task the provider has not finished this long after its creation is failed and refunded;
# its hold lives as long (plus BILLING_HOLD_TTL_SECONDS), so the sweeper never takes it first.
GATEWAY_TASK_TIMEOUT_SECONDS = env.float("GATEWAY_TASK_TIMEOUT_SECONDS", default=3600.0)
# The shortest interval between two polls of one task; later polls back off (doubling, up to
# GATEWAY_TASK_POLL_MAX_SECONDS). The poller's beat runs this often.
GATEWAY_TASK_POLL_SECONDS = env.float("GATEWAY_TASK_POLL_SECONDS", default=5.0)
GATEWAY_TASK_POLL_MAX_SECONDS = env.float("GATEWAY_TASK_POLL_MAX_SECONDS", default=60.0)
# How many provider polls one sweep runs at once (threads), and how many tasks it claims.
GATEWAY_TASK_POLL_CONCURRENCY = env.int("GATEWAY_TASK_POLL_CONCURRENCY", default=32)
GATEWAY_TASK_POLL_BATCH = env.int("GATEWAY_TASK_POLL_BATCH", default=1000)
# A music request without a duration is held (and estimated) for this many seconds of audio.
GATEWAY_MUSIC_DEFAULT_SECONDS = env.float("GATEWAY_MUSIC_DEFAULT_SECONDS", default=30.0)
# Callbacks: the first retry this long after a failed attempt, doubling each time, for
# GATEWAY_CALLBACK_ATTEMPTS attempts in all (8: retries 30 s x (1+2+...+64), ~63 min).
GATEWAY_CALLBACK_RETRY_BASE_SECONDS = env.float("GATEWAY_CALLBACK_RETRY_BASE_SECONDS", default=30.0)
GATEWAY_CALLBACK_ATTEMPTS = env.int("GATEWAY_CALLBACK_ATTEMPTS", default=8)
GATEWAY_CALLBACK_TIMEOUT_SECONDS = env.float("GATEWAY_CALLBACK_TIMEOUT_SECONDS", default=10.0)
# Local testing only: callbacks and fetched inputs may go to private and loopback addresses.
GATEWAY_CALLBACKS_ALLOW_PRIVATE = env.bool("GATEWAY_CALLBACKS_ALLOW_PRIVATE", default=False)
# Users' own providers (self-route, gateway.self_route): their keys are encrypted with
# Fernet under GATEWAY_PROVIDER_KEYS_SECRET (a comma list: the first encrypts, every one
# decrypts, for rotation); unset, a key derived from DJANGO_SECRET_KEY. Requests served by
# one are charged GATEWAY_SELF_ROUTE_FEE_PERCENT of the listed price (0: nothing). Local
# testing only: a user's provider may be on a private or loopback address.
GATEWAY_PROVIDER_KEYS_SECRET = env.list("GATEWAY_PROVIDER_KEYS_SECRET", default=[])
GATEWAY_SELF_ROUTE_FEE_PERCENT = Decimal(env("GATEWAY_SELF_ROUTE_FEE_PERCENT", default="0"))
GATEWAY_SELF_ROUTE_ALLOW_PRIVATE = env.bool("GATEWAY_SELF_ROUTE_ALLOW_PRIVATE", default=False)
GATEWAY_SELF_ROUTE_MAX_PER_USER = env.int("GATEWAY_SELF_ROUTE_MAX_PER_USER", default=20)
# Where task outputs are copied (STORAGES["default"]): the filesystem under MEDIA_ROOT, or an
# S3-compatible bucket through django-storages when MEDIA_S3_BUCKET is set.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=VAR_DIR / "media")
MEDIA_URL = "/media/"
GATEWAY_MEDIA_MAX_BYTES = env.int("GATEWAY_MEDIA_MAX_BYTES", default=512 * 1024 * 1024)
# An S3-compatible bucket instead (django-storages, the optional "s3" extra): private objects,
# served by the gateway's /v1/files links, never by the bucket's own URLs.
MEDIA_S3_BUCKET = env("MEDIA_S3_BUCKET", default="")
if MEDIA_S3_BUCKET:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": MEDIA_S3_BUCKET,
            "endpoint_url": env("MEDIA_S3_ENDPOINT_URL", default="") or None,
            "region_name": env("MEDIA_S3_REGION", default="") or None,
            "access_key": env("MEDIA_S3_ACCESS_KEY_ID", default="") or None,
            "secret_key": env("MEDIA_S3_SECRET_ACCESS_KEY", default="") or None,
            "location": env("MEDIA_S3_PREFIX", default=""),
            "default_acl": None,
            "file_overwrite": False,
        },
    }

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # the Stripe SDK logs every request at INFO; its errors reach billing's own log lines
    "loggers": {"django.db.backends": {"level": "WARNING"}, "stripe": {"level": "WARNING"}},
}
