"""Per-key requests-per-minute limit, shared by every process: GCRA (the generic cell rate
algorithm), kept in Redis (``REDIS_URL``) or, without Redis, in the database.

A key of ``limit`` requests per minute earns one request every ``interval = 60 s / limit``
and may bank up to ``limit`` of them: ``limit`` requests at once, then one per interval.
The state of a key is one number, its *theoretical arrival time* (TAT, Unix microseconds):
a request at ``now`` conforms when ``max(TAT, now) - now <= (limit - 1) * interval``, and
then moves it to ``max(TAT, now) + interval``. A refused request changes nothing.

Invariants:
- no more than ``limit`` requests are accepted in any span shorter than one interval, and
  no more than ``2 * limit - 1`` in any 60 s span (the bank of ``limit`` plus the ``limit - 1``
  earned during the span); sustained, exactly ``limit`` per minute. There are no window
  edges: a client cannot double the burst across a minute boundary;
- each decision is atomic: one Lua script in Redis (one round trip; the clock is Redis's,
  so the web machines agree), or one conditional ``UPDATE`` of the key's row in the
  database (``WHERE tat <= now + tolerance``; its row count decides, nothing is read
  first), then one read of the new TAT for the headers;
- headers: ``X-RateLimit-Limit`` the limit; ``X-RateLimit-Remaining`` the requests the
  key may send at once right now; ``X-RateLimit-Reset`` the Unix time (seconds, rounded up)
  at which its whole allowance of ``limit`` is available again if it sends nothing more.
  A refusal (429 ``rate_limited``) adds ``Retry-After``: whole seconds until one request
  conforms.

Redis unreachable (refused, timed out): the limit degrades to the same algorithm per
process (each process allows the key's full limit) rather than refusing paid traffic; a
warning is logged when it starts and at most once a minute while it lasts, and Redis is
tried again every ``REDIS_RETRY_SECONDS``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.db.models import BigIntegerField, F, Value
from django.db.models.functions import Greatest

from config.errors import ApiError
from gateway.models import RateCounter

log = logging.getLogger(__name__)

WINDOW_US = 60_000_000  # the limit is per minute
REDIS_TIMEOUT_SECONDS = 0.5  # connect and reply; a healthy Redis answers in well under 1 ms
REDIS_RETRY_SECONDS = 5.0  # after a failure, the per-process limit is used this long
LOG_EVERY_SECONDS = 60.0
LOCAL_MAX_KEYS = 10_000

# KEYS[1] the key's TAT; ARGV: now (µs, or "" for Redis's clock), interval, tolerance (µs).
# Returns {accepted 0|1, tat after, now}. TAT is written with %.0f: Lua's default number
# format (%.14g) would round a 16-digit microsecond time.
_GCRA_LUA = """
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[1])
end
local interval = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
if tat - now > tonumber(ARGV[3]) then
  return {0, tat, now}
end
tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000))
return {1, tat, now}
"""


def state_name(key_id: int) -> str:
    """The Redis key holding this API key's TAT."""
    return f"rate:{key_id}"


@dataclass(frozen=True, slots=True)
class Rate:
    """One key's limit as GCRA parameters, in microseconds."""

    limit: int
    interval: int  # rounded up, so the sustained rate never exceeds the limit
    tolerance: int  # (limit - 1) intervals: a burst of exactly ``limit``

    @classmethod
    def per_minute(cls, limit: int) -> Rate:
        interval = -(-WINDOW_US // limit)
        return cls(limit=limit, interval=interval, tolerance=(limit - 1) * interval)

    def conforms(self, tat: int, now: int) -> bool:
        return max(tat, now) - now <= self.tolerance


@dataclass
class _Redis:
    url: str
    client: Any
    script: Any
    down_until: float = 0.0  # time.monotonic(); until then the per-process limit is used
    logged_at: float = -math.inf
    degraded: int = 0  # requests limited per process since the last log line


_lock = threading.Lock()
_redis: _Redis | None = None
_local: dict[int, int] = {}  # key id -> TAT, while Redis is unreachable


def _redis_get() -> _Redis:
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
                _redis = _Redis(url=url, client=client, script=client.register_script(_GCRA_LUA))
    return _redis


def _hit_redis(key_id: int, rate: Rate, now: int | None) -> tuple[bool, int, int] | None:
    """(accepted, TAT after, now), or None when Redis is unreachable."""
    state = _redis_get()
    if time.monotonic() < state.down_until:
        return None
    args = ["" if now is None else now, rate.interval, rate.tolerance]
    try:
        accepted, tat, at = state.script(keys=[state_name(key_id)], args=args)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        state.down_until = time.monotonic() + REDIS_RETRY_SECONDS
        _log_degraded(state, exc)
        return None
    if state.logged_at > -math.inf:
        log.warning("rate limit: Redis answers again; limits are shared across processes")
        state.logged_at, state.degraded = -math.inf, 0
    return bool(accepted), int(tat), int(at)


def _log_degraded(state: _Redis, exc: Exception) -> None:
    """A warning when Redis becomes unreachable, then at most one every LOG_EVERY_SECONDS."""
    at = time.monotonic()
    if at - state.logged_at >= LOG_EVERY_SECONDS:
        log.warning(
            "rate limit: Redis unreachable (%s); limiting per process "
            "(%d requests limited per process since the last warning)",
            exc,
            state.degraded,
        )
        state.logged_at, state.degraded = at, 0


def _hit_local(key_id: int, rate: Rate, now: int) -> tuple[bool, int, int]:
    with _lock:
        if _redis is not None:
            _redis.degraded += 1
        if len(_local) >= LOCAL_MAX_KEYS:
            for stale in [k for k, tat in _local.items() if tat <= now]:
                del _local[stale]
            if len(_local) >= LOCAL_MAX_KEYS:
                _local.clear()
        tat = _local.get(key_id, now)
        if not rate.conforms(tat, now):
            return False, tat, now
        _local[key_id] = max(tat, now) + rate.interval
        return True, _local[key_id], now


def _hit_db(key_id: int, rate: Rate, now: int) -> tuple[bool, int, int]:
    rows = RateCounter.objects.filter(api_key_id=key_id)

    def advance() -> int:
        return rows.filter(tat__lte=now + rate.tolerance).update(
            tat=Greatest(F("tat"), Value(now), output_field=BigIntegerField()) + rate.interval
        )

    accepted = advance()
    if not accepted:
        # refused, or the key's first request (no row yet: made here, or by a request
        # running beside this one, which the read below would see while this one's update
        # saw none); then the same conditional update once more
        RateCounter.objects.bulk_create(
            [RateCounter(api_key_id=key_id, tat=0)], ignore_conflicts=True
        )
        accepted = advance()
    tat = rows.values_list("tat", flat=True).get()
    return bool(accepted), tat, now


def ratelimit_hit(*, key_id: int, limit: int, now: float | None = None) -> dict[str, str]:
    """Count one request of this key against ``limit`` requests per minute; returns the
    X-RateLimit-* headers, or raises 429 rate_limited (with them and Retry-After).
    ``now`` (Unix seconds) is for tests; by default Redis's clock, or this machine's."""
    rate = Rate.per_minute(limit)
    now_us = None if now is None else round(now * 1_000_000)
    result = _hit_redis(key_id, rate, now_us) if settings.REDIS_URL else None
    if result is None:
        now_us = round(time.time() * 1_000_000) if now_us is None else now_us
        hit = _hit_local if settings.REDIS_URL else _hit_db
        result = hit(key_id, rate, now_us)
    accepted, tat, at = result
    remaining = max(0, (at + rate.limit * rate.interval - max(tat, at)) // rate.interval)
    headers = {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining if accepted else 0),
        "X-RateLimit-Reset": str(-(-max(tat, at) // 1_000_000)),
    }
    if accepted:
        return headers
    retry = max(1, -(-(tat - rate.tolerance - at) // 1_000_000))
    raise ApiError(
        429,
        "rate_limited",
        f"Rate limit of {limit} requests per minute reached; retry in {retry}s",
        headers={**headers, "Retry-After": str(retry)},
    )
