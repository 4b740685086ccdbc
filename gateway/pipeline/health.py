"""Route health: each route's circuit breaker, shared by every process.

A route that fails ``GATEWAY_CIRCUIT_FAILURES`` times in a row (retryable upstream statuses
or transport errors; the callers decide from structured outcomes, never message text) is
*open*, out of rotation, for ``GATEWAY_CIRCUIT_COOLDOWN_SECONDS``; then it is closed again on
its own. Its count starts over when it opens; a success closes it and zeroes the count.

Where the state lives:
- Redis when ``REDIS_URL`` is set: hash ``breaker:<route id>`` with ``f`` (failures) and
  ``u`` (open until, Unix milliseconds), kept a day after its last change;
- else the database: one ``gateway.RouteBreaker`` row per route.

Invariants:
- a failure is one atomic step: one Lua script (HINCRBY, then open at the threshold), or one
  conditional ``UPDATE`` whose ``CASE`` expressions read the row's old values (PostgreSQL's
  row lock serialises concurrent ones): concurrent failures are all counted, none is lost;
- a success on a route this process's copy shows closed with zero failures (the copy routing
  refreshed for this request) sends nothing, however long the request took; otherwise it
  sends one conditional write that changes nothing unless there is something to reset (a
  failure count, or an open-until to come). Failures another process records while the
  request runs are left for that route's next success: the count errs towards opening;
- reads are cheap: ``route_is_open`` answers from a per-process copy at most
  ``CACHE_SECONDS`` old, and ``health_prefetch`` refreshes every stale route of a request in
  one round trip (pipelined HMGETs, or one ``SELECT ... IN``). So another process sees a
  breaker open at most ``CACHE_SECONDS`` late; the process that opened it sees it at once;
- route ids are ints: catalog Route pks are positive, a user's own provider is the negative
  of its pk, so breakers never collide. Routes never seen are closed with zero failures;
- open-until is wall-clock time (Unix) of the machine that recorded the failure.

Redis unreachable (refused, timed out): breakers degrade to per process, as they were before
they were shared, with a warning at most once a minute; Redis is tried again every
``REDIS_RETRY_SECONDS``. Routing never fails because breaker state cannot be read.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import redis
from django.conf import settings
from django.db.models import Case, DateTimeField, F, Q, Value, When

from gateway.models import RouteBreaker

log = logging.getLogger(__name__)

CACHE_SECONDS = 1.0  # how old this process's copy of a breaker may be
KEEP_SECONDS = 86_400  # a Redis breaker untouched this long is forgotten (closed, zero)
REDIS_TIMEOUT_SECONDS = 0.5
REDIS_RETRY_SECONDS = 5.0
LOG_EVERY_SECONDS = 60.0
CACHE_MAX_ROUTES = 10_000
PREFIX = "breaker:"

# KEYS[1] the breaker; ARGV: now (Unix ms), threshold, cooldown (ms), keep (ms).
# Returns {failures after, open until (ms)}.
_FAIL_LUA = """
local f = redis.call('HINCRBY', KEYS[1], 'f', 1)
local u = redis.call('HGET', KEYS[1], 'u') or '0'
if f >= tonumber(ARGV[2]) then
  f = 0
  u = string.format('%.0f', tonumber(ARGV[1]) + tonumber(ARGV[3]))
  redis.call('HSET', KEYS[1], 'f', 0, 'u', u)
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {f, u}
"""

# KEYS[1] the breaker; ARGV: now (Unix ms), keep (ms). Writes only when there is a count to
# zero or an open-until still to come; returns 1 when it wrote.
_SUCCEED_LUA = """
local v = redis.call('HMGET', KEYS[1], 'f', 'u')
if (tonumber(v[1]) or 0) ~= 0 or (tonumber(v[2]) or 0) > tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'f', 0, 'u', 0)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""


@dataclass(frozen=True, slots=True)
class RouteHealth:
    """One route's breaker as shown to operators. ``open_until`` is UTC, set only while open."""

    state: Literal["closed", "open"]
    failures: int
    open_until: datetime | None


@dataclass(slots=True)
class _State:
    failures: int = 0
    open_until: float = 0.0  # Unix seconds; in the past (or 0) when closed
    seen_at: float = -math.inf  # time.monotonic() when read from (or written to) the store

    def health(self, now: float) -> RouteHealth:
        if self.open_until > now:
            return RouteHealth("open", self.failures, datetime.fromtimestamp(self.open_until, UTC))
        return RouteHealth("closed", self.failures, None)


# --- Redis ---------------------------------------------------------------------------------


@dataclass
class _Redis:
    url: str
    client: Any
    fail: Any
    succeed: Any
    down_until: float = 0.0  # time.monotonic(); until then breakers are per process
    logged_at: float = -math.inf


_lock = threading.Lock()
_redis: _Redis | None = None
_cache: dict[int, _State] = {}  # this process's copy of the shared state
_local: dict[int, _State] = {}  # the state itself while Redis is unreachable


def _redis_get() -> _Redis | None:
    """The Redis connection, or None when it is down (then breakers are per process)."""
    global _redis
    url = settings.REDIS_URL
    if _redis is None or _redis.url != url:
        with _lock:
            if _redis is None or _redis.url != url:
                client = redis.Redis.from_url(
                    url,
                    socket_timeout=REDIS_TIMEOUT_SECONDS,
                    socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                )
                _redis = _Redis(
                    url=url,
                    client=client,
                    fail=client.register_script(_FAIL_LUA),
                    succeed=client.register_script(_SUCCEED_LUA),
                )
    return None if time.monotonic() < _redis.down_until else _redis


def _redis_down(state: _Redis, exc: Exception) -> None:
    state.down_until = time.monotonic() + REDIS_RETRY_SECONDS
    at = time.monotonic()
    if at - state.logged_at >= LOG_EVERY_SECONDS:
        log.warning("route health: Redis unreachable (%s); breakers are per process", exc)
        state.logged_at = at


def _name(route_id: int) -> str:
    return f"{PREFIX}{route_id}"


def _from_hash(values: list[Any]) -> _State:
    failures, until = (int(v) if v is not None else 0 for v in values)
    return _State(failures=failures, open_until=until / 1000)


_REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError)


# --- the stores: Redis, the database, this process -----------------------------------------


def _read(route_ids: list[int]) -> dict[int, _State]:
    """Each route's state from the shared store, in one round trip."""
    if settings.REDIS_URL and (state := _redis_get()) is not None:
        try:
            pipe = state.client.pipeline(transaction=False)
            for route_id in route_ids:
                pipe.hmget(_name(route_id), "f", "u")
            return {r: _from_hash(v) for r, v in zip(route_ids, pipe.execute(), strict=True)}
        except _REDIS_ERRORS as exc:
            _redis_down(state, exc)
    if settings.REDIS_URL:
        return {r: _local.get(r) or _State() for r in route_ids}
    found = {
        route_id: _State(failures, until.timestamp() if until else 0.0)
        for route_id, failures, until in RouteBreaker.objects.filter(
            route_id__in=route_ids
        ).values_list("route_id", "failures", "open_until")
    }
    return {r: found.get(r) or _State() for r in route_ids}


def _fail(route_id: int, now: float) -> _State:
    threshold = settings.GATEWAY_CIRCUIT_FAILURES
    cooldown = settings.GATEWAY_CIRCUIT_COOLDOWN_SECONDS
    if settings.REDIS_URL and (state := _redis_get()) is not None:
        keep = round(max(cooldown, KEEP_SECONDS) * 1000)
        args = [round(now * 1000), threshold, round(cooldown * 1000), keep]
        try:
            failures, until = state.fail(keys=[_name(route_id)], args=args)
            return _State(failures=int(failures), open_until=int(until) / 1000)
        except _REDIS_ERRORS as exc:
            _redis_down(state, exc)
    if settings.REDIS_URL:
        with _lock:
            local = _local.setdefault(route_id, _State())
            local.failures += 1
            if local.failures >= threshold:
                local.failures, local.open_until = 0, now + cooldown
            return _State(local.failures, local.open_until)
    return _fail_db(route_id, threshold, datetime.fromtimestamp(now + cooldown, UTC))


def _fail_db(route_id: int, threshold: int, until: datetime) -> _State:
    rows = RouteBreaker.objects.filter(route_id=route_id)
    trips = When(failures__gte=threshold - 1, then=Value(0))

    def bump() -> int:
        # Both CASEs read the row's old failure count: one statement counts and opens.
        return rows.update(
            failures=Case(trips, default=F("failures") + 1),
            open_until=Case(
                When(failures__gte=threshold - 1, then=Value(until)),
                default=F("open_until"),
                output_field=DateTimeField(),
            ),
        )

    if not bump():
        # the route's first failure (no row yet: made here, or by a failure recorded beside
        # this one); then the same conditional update once more
        RouteBreaker.objects.bulk_create([RouteBreaker(route_id=route_id)], ignore_conflicts=True)
        bump()
    failures, open_until = rows.values_list("failures", "open_until").get()
    return _State(failures, open_until.timestamp() if open_until else 0.0)


def _succeed(route_id: int, now: float) -> None:
    if settings.REDIS_URL and (state := _redis_get()) is not None:
        keep = round(max(settings.GATEWAY_CIRCUIT_COOLDOWN_SECONDS, KEEP_SECONDS) * 1000)
        try:
            state.succeed(keys=[_name(route_id)], args=[round(now * 1000), keep])
            return
        except _REDIS_ERRORS as exc:
            _redis_down(state, exc)
    if settings.REDIS_URL:
        _local.pop(route_id, None)
        return
    RouteBreaker.objects.filter(route_id=route_id).filter(
        Q(failures__gt=0) | Q(open_until__gt=datetime.fromtimestamp(now, UTC))
    ).update(failures=0, open_until=None)


# --- the interface -------------------------------------------------------------------------


def _remember(route_id: int, state: _State) -> _State:
    if len(_cache) >= CACHE_MAX_ROUTES:
        _cache.clear()
    state.seen_at = time.monotonic()
    _cache[route_id] = state
    return state


def health_prefetch(route_ids: Iterable[int]) -> None:
    """Refresh, in one round trip, this process's copy of every route here that is stale."""
    fresh_after = time.monotonic() - CACHE_SECONDS
    stale = [
        r
        for r in dict.fromkeys(route_ids)
        if (s := _cache.get(r)) is None or s.seen_at < fresh_after
    ]
    if stale:
        for route_id, state in _read(stale).items():
            _remember(route_id, state)


def route_is_open(route_id: int, now: float | None = None) -> bool:
    """True while the route is out of rotation (``now``: Unix seconds, for tests)."""
    health_prefetch([route_id])
    state = _cache.get(route_id) or _State()
    return state.open_until > (time.time() if now is None else now)


def route_record(route_id: int, *, ok: bool, now: float | None = None) -> None:
    """Feed one attempt's outcome to the route's breaker (``now``: Unix seconds, for tests)."""
    at = time.time() if now is None else now
    if not ok:
        _remember(route_id, _fail(route_id, at))
        return
    seen = _cache.get(route_id)
    if seen is not None and seen.failures == 0 and seen.open_until <= at:
        # closed with no failures when this request was routed (routing refreshed the copy
        # if it was over CACHE_SECONDS old): nothing to reset, nothing sent, however long the
        # request took (a queued or streamed one outlives the copy's second)
        return
    _succeed(route_id, at)
    _remember(route_id, _State())


def route_health(route_ids: Iterable[int]) -> dict[int, RouteHealth]:
    """Each route's breaker read from the shared store now (one round trip)."""
    ids = list(dict.fromkeys(route_ids))
    if not ids:
        return {}
    now = time.time()
    return {r: _remember(r, state).health(now) for r, state in _read(ids).items()}


def route_health_all() -> dict[int, RouteHealth]:
    """Every route with a breaker state recorded (a failure seen and not forgotten)."""
    now = time.time()
    if settings.REDIS_URL and (state := _redis_get()) is not None:
        try:
            names = list(state.client.scan_iter(match=f"{PREFIX}*", count=1000))
            ids = [int(n.decode()[len(PREFIX) :]) for n in names]
            return route_health(ids)
        except _REDIS_ERRORS as exc:
            _redis_down(state, exc)
    if settings.REDIS_URL:
        return {r: s.health(now) for r, s in list(_local.items())}
    return route_health(RouteBreaker.objects.values_list("route_id", flat=True))


def health_cache_clear() -> None:
    """Forget this process's copy of the shared state (the next read goes to the store)."""
    _cache.clear()


def health_reset() -> None:
    """Forget every breaker: this process's copy and fallback, and the Redis hashes when
    Redis is configured (they outlive a test database). Database rows are left to the
    database (a test's rows go with its transaction or its flush)."""
    with _lock:
        _cache.clear()
        _local.clear()
    if settings.REDIS_URL and (state := _redis_get()) is not None:
        try:
            names = list(state.client.scan_iter(match=f"{PREFIX}*", count=1000))
            if names:
                state.client.delete(*names)
        except _REDIS_ERRORS as exc:
            _redis_down(state, exc)
