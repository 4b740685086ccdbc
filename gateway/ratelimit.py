"""Per-key requests-per-minute limit, shared by every process: a fixed one-minute window
counted in Redis (``REDIS_URL``) or, without Redis, in the database. Both count with an
atomic increment, never read-then-write."""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.db.models import F

from config.errors import ApiError
from gateway.models import RateCounter

_lock = threading.Lock()
_redis = None


def _client():
    global _redis
    if _redis is None:
        with _lock:
            if _redis is None:
                import redis

                _redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
    return _redis


def _count_redis(key_id: int, window: int) -> int:
    name = f"rl:{key_id}:{window}"
    pipe = _client().pipeline(transaction=False)
    pipe.incr(name)
    pipe.expire(name, 120)
    count, _ = pipe.execute()
    return int(count)


def _count_db(key_id: int, window: int, limit: int) -> int:
    """The count after this request, or limit + 1 when the window is full."""

    def bump() -> int:
        return RateCounter.objects.filter(api_key_id=key_id, window=window, count__lt=limit).update(
            count=F("count") + 1
        )

    if bump():
        return RateCounter.objects.values_list("count", flat=True).get(
            api_key_id=key_id, window=window
        )
    RateCounter.objects.bulk_create(
        [RateCounter(api_key_id=key_id, window=window, count=0)], ignore_conflicts=True
    )
    if bump():
        return RateCounter.objects.values_list("count", flat=True).get(
            api_key_id=key_id, window=window
        )
    return limit + 1


def ratelimit_hit(*, key_id: int, limit: int, now: float | None = None) -> dict[str, str]:
    """Count one request; returns the X-RateLimit-* headers, or raises 429 rate_limited."""
    now = now or time.time()
    window = int(now // 60)
    reset = (window + 1) * 60
    count = _count_redis(key_id, window) if settings.REDIS_URL else _count_db(key_id, window, limit)
    headers = {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(max(limit - count, 0)),
        "X-RateLimit-Reset": str(reset),
    }
    if count > limit:
        retry = max(1, int(reset - now))
        raise ApiError(
            429,
            "rate_limited",
            f"Rate limit of {limit} requests per minute reached; retry in {retry}s",
            headers={**headers, "Retry-After": str(retry)},
        )
    return headers
