"""Production settings fail closed, and the Procfile prepares what the web process needs.
Each settings case imports ``config.settings.production`` in a fresh interpreter, as the
web process would."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BASE = {
    "DJANGO_SECRET_KEY": "x" * 50,
    "DJANGO_ALLOWED_HOSTS": "api.example.com",
    "DATABASE_URL": "postgres://u@127.0.0.1:5432/db",
}
PRINT = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER, "
    "bool(s.STRIPE_WEBHOOK_SECRET))"
)


def start(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "STRIPE_", "DATABASE_", "PAYMENTS_"))
    }
    clean.update(DJANGO_SETTINGS_MODULE="config.settings.production", **env)
    return subprocess.run(
        [sys.executable, "-c", PRINT],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("empty", [False, True])
def test_database_url_is_required(empty: bool) -> None:
    env = {k: v for k, v in BASE.items() if k != "DATABASE_URL"}
    result = start(**env, **({"DATABASE_URL": ""} if empty else {}))
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr


@pytest.mark.parametrize(
    "payments",
    [
        {"STRIPE_SECRET_KEY": "sk_live_x"},
        {"PAYMENTS_ENABLED": "true"},
        {"PAYMENTS_ENABLED": "true", "STRIPE_WEBHOOK_SECRET": "whsec_x"},
        {"STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_WEBHOOK_SECRET": ""},
    ],
)
def test_stripe_secrets_are_required_once_payments_are_on(payments: dict[str, str]) -> None:
    result = start(**BASE, **payments)
    assert result.returncode != 0
    assert "STRIPE_" in result.stderr


def test_configured_production_redirects_to_https_with_hsts() -> None:
    result = start(**BASE, STRIPE_SECRET_KEY="sk_live_x", STRIPE_WEBHOOK_SECRET="whsec_x")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "True",
        "31536000",
        "('HTTP_X_FORWARDED_PROTO',",
        "'https')",
        "True",
    ]
    # payments off: no Stripe secret needed
    assert start(**BASE).returncode == 0


def test_the_release_step_migrates_and_collects_static_and_beat_makes_its_folder() -> None:
    lines = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()
    )
    release = lines["release"]
    assert "manage.py migrate --noinput" in release
    assert "manage.py collectstatic --noinput" in release
    assert "&&" in release  # collectstatic runs only after the migrations succeeded


@pytest.mark.timeout(90)
def test_beat_makes_its_schedule_folder_wherever_it_is_started(tmp_path: Path) -> None:
    # given settings whose beat schedule is in a folder that does not exist yet, and a
    # working directory that is not the project's (a supervisor's, or honcho -f elsewhere)
    line = re.search(r"^beat: (.+)$", (ROOT / "Procfile").read_text(), re.MULTILINE)
    assert line is not None
    folder = tmp_path / "state" / "beat"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "CELERY_")) and k not in ("REDIS_URL", "DATABASE_URL")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="tests.security.worker_settings",
        DJANGO_SECRET_KEY="beat-test-key",
        GATEWAY_TEST_BROKER_DIR=str(folder),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        PATH=f"{Path(sys.executable).parent}:{env['PATH']}",
        PYTHONPATH=str(ROOT),
    )
    log = tmp_path / "beat.log"
    # when the Procfile's beat line starts there
    with log.open("wb") as out:
        proc = subprocess.Popen(
            line.group(1),
            shell=True,
            cwd=elsewhere,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while not list(folder.glob("celerybeat-schedule*")):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    # then it made the settings' folder and wrote its schedule there, nothing where it ran
    assert folder.is_dir()
    assert list(elsewhere.iterdir()) == []
