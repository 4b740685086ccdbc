"""/readyz: 200 when the database answers, Redis answers (when configured) and the holds
sweeper ran within its allowance of now or of the process start; else 503 naming each
failed check. The failures are real: a database that does not exist, a closed Redis port,
a sweeper that has not run."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings
from django.utils import timezone

from gateway.models import SweepRun
from gateway.records.sweeper import holds_sweep
from tests.ops.scrape import run_django

pytestmark = pytest.mark.usefixtures("transactional_db")

CLOSED_PORT_REDIS = "redis://127.0.0.1:1/0"


def ready() -> tuple[int, dict]:
    resp = Client().get("/readyz")
    assert resp["Content-Type"] == "application/json"
    return resp.status_code, json.loads(resp.content)


@pytest.fixture
def database_gone() -> Iterator[None]:
    """The default connection pointed at a database that does not exist (SQLite: a file in
    a folder that does not exist; PostgreSQL: a database name that does not exist)."""
    saved = dict(connection.settings_dict)
    saved_options = dict(saved.get("OPTIONS") or {})
    connection.close()
    pooled = hasattr(connection, "close_pool") and "pool" in saved_options
    if pooled:
        connection.close_pool()
        connection.settings_dict["OPTIONS"] = {
            **saved_options,
            "pool": {**saved_options["pool"], "timeout": 1.0, "min_size": 0},
        }
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent-folder/gone.sqlite3"
    else:
        connection.settings_dict["NAME"] = "gw_i1_does_not_exist"
    try:
        yield
    finally:
        connection.close()
        if pooled:
            connection.close_pool()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
        connection.settings_dict["OPTIONS"] = saved_options


@override_settings(GATEWAY_READY_SWEEP_SECONDS=3600)
def test_ready_when_every_check_passes() -> None:
    status, body = ready()
    assert status == 200
    assert body["status"] == "ok" and "failed" not in body
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["sweeper"] == {"ok": True}


@override_settings(GATEWAY_READY_SWEEP_SECONDS=3600)
def test_not_ready_when_the_database_does_not_answer(database_gone: None) -> None:
    status, body = ready()
    assert status == 503
    assert body["status"] == "unavailable"
    assert body["failed"] == ["database", "sweeper"]
    assert body["checks"]["database"] == {"ok": False, "reason": "the database did not answer"}
    # the reason says what failed, never the error's text
    assert "gone.sqlite3" not in json.dumps(body) and "does_not_exist" not in json.dumps(body)
    # and the process is still up
    assert Client().get("/healthz").status_code == 200


@override_settings(GATEWAY_READY_SWEEP_SECONDS=3600, REDIS_URL=CLOSED_PORT_REDIS)
def test_not_ready_when_redis_is_configured_and_does_not_answer() -> None:
    began = time.monotonic()
    status, body = ready()
    assert status == 503
    assert body["failed"] == ["redis"]
    assert body["checks"]["redis"] == {"ok": False, "reason": "Redis did not answer"}
    assert body["checks"]["database"] == {"ok": True}
    assert time.monotonic() - began < 5  # bounded by the check's timeouts


@override_settings(GATEWAY_READY_SWEEP_SECONDS=3600, REDIS_URL="")
def test_redis_is_not_checked_when_not_configured() -> None:
    status, body = ready()
    assert status == 200 and "redis" not in body["checks"]


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (a real Redis)")
@override_settings(GATEWAY_READY_SWEEP_SECONDS=3600)
def test_ready_with_a_redis_that_answers() -> None:
    status, body = ready()
    assert status == 200 and body["checks"]["redis"] == {"ok": True}


def test_not_ready_while_the_sweeper_has_not_run_then_ready_once_it_ran() -> None:
    # given this process has run longer than the allowance, with no sweep since
    time.sleep(0.3)
    with override_settings(GATEWAY_READY_SWEEP_SECONDS=0.2):
        status, body = ready()
        assert status == 503 and body["failed"] == ["sweeper"]
        assert body["checks"]["sweeper"]["reason"].startswith("the holds sweeper has not run for")
        # when the sweeper runs
        holds_sweep()
        # then it is ready
        assert ready()[0] == 200
        # and once that run is older than the allowance, not ready again
        SweepRun.objects.filter(pk=1).update(ran_at=timezone.now() - dt.timedelta(hours=1))
        assert ready()[0] == 503


def test_the_default_allowance_is_twice_the_sweepers_beat_period() -> None:
    from gateway.ops.readiness import sweep_allowance

    period = settings.CELERY_BEAT_SCHEDULE["holds-sweep"]["schedule"]
    assert sweep_allowance() == 2 * period == 120


def test_a_fresh_process_is_ready_though_the_last_sweep_is_old() -> None:
    # given a sweep an hour ago (the scheduler has been down for an hour)
    holds_sweep()
    SweepRun.objects.filter(pk=1).update(ran_at=timezone.now() - dt.timedelta(hours=1))
    # when a process starts now, it is ready: its allowance counts from its start
    out = run_django(
        "import json\nfrom django.test import Client\n"
        "r = Client().get('/readyz')\n"
        "print(json.dumps([r.status_code, json.loads(r.content)]))\n",
        env={"REDIS_URL": "", "GATEWAY_READY_SWEEP_SECONDS": "0"},
    )
    status, body = json.loads(out.strip().splitlines()[-1])
    assert status == 200, body
    assert body["checks"]["sweeper"] == {"ok": True}


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_probes_answer_only_reads(method: str) -> None:
    for path in ("/healthz", "/readyz"):
        resp = getattr(Client(), method)(path)
        assert resp.status_code == 405
        assert json.loads(resp.content)["error"]["code"] == "method_not_allowed"
