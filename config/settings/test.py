"""Tests: the database comes from DATABASE_URL (PostgreSQL in CI) or in-memory SQLite."""

import os
import tempfile
from pathlib import Path

from config.settings.base import *  # noqa: F403
from config.settings.base import DATABASES

DEBUG = False
SECRET_KEY = "test-only-secret"  # noqa: S105
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file (WAL, as in the embedded setup) rather than :memory:, so live-server threads
    # each get their own connection as they do in production. One file per test process.
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"gateway-test-{os.getpid()}.sqlite3")
    }
CELERY_TASK_ALWAYS_EAGER = True
CELERY_BROKER_URL = "memory://"
GATEWAY_CATALOG_TTL_SECONDS = 0.0
