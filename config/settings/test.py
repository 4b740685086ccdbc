"""Tests: the database comes from DATABASE_URL (PostgreSQL in CI) or in-memory SQLite."""

from config.settings.base import *  # noqa: F403
from config.settings.base import DATABASES, env

DEBUG = False
SECRET_KEY = "test-only-secret"  # noqa: S105
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" and not env(
    "DATABASE_URL", default=""
):
    DATABASES["default"]["NAME"] = ":memory:"
CELERY_TASK_ALWAYS_EAGER = True
CELERY_BROKER_URL = "memory://"
GATEWAY_CATALOG_TTL_SECONDS = 0.0
