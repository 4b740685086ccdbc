"""Readiness: whether this process can serve. Three checks, each named in the answer:

- ``database``: the default database answers ``SELECT 1``;
- ``redis``: Redis answers ``PING``, when ``REDIS_URL`` is set (1 s timeouts);
- ``sweeper``: the holds sweeper (``gateway.tasks.holds_sweep``, on Celery beat every
  ``holds-sweep`` period) ran within ``GATEWAY_READY_SWEEP_SECONDS`` (twice its period by
  default, so one late run is not an outage), counted from the later of its last run
  (``SweepRun``) and this process's start: a fresh start is ready, and a process that has
  run that long without a sweep is not.

A reason names what failed, never the error's text (it may carry hosts or credentials);
the error itself is logged.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import DatabaseError, connection

log = logging.getLogger(__name__)

# This process's start (gateway.apps imports this module when Django is set up).
STARTED_AT = time.time()
REDIS_TIMEOUT_SECONDS = 1.0

_lock = threading.Lock()
_redis: dict[str, redis.Redis] = {}


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    reason: str = ""


def readiness() -> list[Check]:
    """Every check, in order; the sweeper's needs the database."""
    database = _database()
    checks = [database]
    if settings.REDIS_URL:
        checks.append(_redis_check(settings.REDIS_URL))
    if database.ok:
        checks.append(_sweeper())
    else:
        checks.append(Check("sweeper", False, "not checked: the database did not answer"))
    return checks


def _database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        log.warning("readiness: the database did not answer (%s)", type(exc).__name__)
        return Check("database", False, "the database did not answer")
    return Check("database", True)


def _redis_check(url: str) -> Check:
    try:
        _redis_client(url).ping()
    except (redis.RedisError, OSError) as exc:
        log.warning("readiness: Redis did not answer (%s)", type(exc).__name__)
        return Check("redis", False, "Redis did not answer")
    return Check("redis", True)


def _redis_client(url: str) -> redis.Redis:
    client = _redis.get(url)
    if client is None:
        with _lock:
            client = _redis.setdefault(
                url,
                redis.Redis.from_url(
                    url,
                    socket_timeout=REDIS_TIMEOUT_SECONDS,
                    socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                ),
            )
    return client


def sweep_allowance() -> float:
    """Seconds since the last sweep (or the process start) after which it is stale."""
    if settings.GATEWAY_READY_SWEEP_SECONDS:
        return settings.GATEWAY_READY_SWEEP_SECONDS
    period = settings.CELERY_BEAT_SCHEDULE["holds-sweep"]["schedule"]
    if isinstance(period, dt.timedelta):
        period = period.total_seconds()
    return 2 * float(period)


def _sweeper() -> Check:
    from gateway.models import SweepRun

    try:
        ran_at = SweepRun.objects.filter(pk=1).values_list("ran_at", flat=True).first()
    except DatabaseError as exc:
        log.warning("readiness: the last sweep could not be read (%s)", type(exc).__name__)
        return Check("sweeper", False, "its last run could not be read")
    since = max(STARTED_AT, ran_at.timestamp() if ran_at is not None else 0.0)
    age = time.time() - since
    allowance = sweep_allowance()
    if age > allowance:
        return Check(
            "sweeper", False, f"the holds sweeper has not run for {int(age)} s (> {allowance:g} s)"
        )
    return Check("sweeper", True)
