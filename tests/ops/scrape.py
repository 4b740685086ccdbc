"""Reading /metrics as Prometheus reads it (prometheus_client's own text parser), and
running a snippet in a fresh Django process on the test database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.db import connection
from django.test import Client
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """(sample name, labels) -> value of every sample of a scrape."""
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    """One sample's value, 0 when the scrape has none."""
    return samples(text).get((name, frozenset(labels.items())), 0.0)


def scrape(client: Client | None = None, **headers: str) -> str:
    resp = (client or Client()).get("/metrics", **headers)
    assert resp.status_code == 200, resp.content
    assert resp["Content-Type"] == CONTENT_TYPE_LATEST
    return resp.content.decode()


def database_url() -> str:
    """The URL of the database this test runs on (the test database), for a subprocess."""
    s = connection.settings_dict
    if s["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def run_django(code: str, *, env: dict[str, str] | None = None) -> str:
    """Run ``code`` in a new Python process with Django set up on the test database; its
    stdout."""
    script = "import django\ndjango.setup()\n" + code
    full_env = {
        **{k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "DJANGO_ALLOWED_HOSTS": "testserver",
        **(env or {}),
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
