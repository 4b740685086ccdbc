"""The per-key rate limit (gateway/pipeline/ratelimit.py, GCRA) on each of its shared backends: the
database (always) and Redis (when REDIS_URL names one). Time is driven with ``now``."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from config.errors import ApiError
from gateway.models import RateCounter
from gateway.pipeline.ratelimit import ratelimit_hit
from tests.helpers import rate_counters_clear

KEY = 9_000_000_001  # not a real key: the limiter needs only an id
BOUNDARY = 1_800_000_000.0  # a minute boundary (divisible by 60), Unix seconds
REDIS_URL = os.environ.get("REDIS_URL", "")


@pytest.fixture(params=["database", "redis"])
def backend(request: pytest.FixtureRequest, settings: Any, db: None) -> Iterator[str]:
    if request.param == "redis" and not REDIS_URL:
        pytest.skip("REDIS_URL names no Redis")
    settings.REDIS_URL = REDIS_URL if request.param == "redis" else ""
    rate_counters_clear(KEY)
    yield request.param
    rate_counters_clear(KEY)


def hit(now: float, limit: int = 30) -> dict[str, str] | None:
    """The headers of an accepted request, or None when it was refused (429)."""
    try:
        return ratelimit_hit(key_id=KEY, limit=limit, now=now)
    except ApiError as refused:
        assert (refused.status, refused.code) == (429, "rate_limited")
        return None


def most_in_any_span(times: list[float], span: float) -> int:
    """The largest number of these (sorted) times inside any half-open span of that length."""
    best, start = 0, 0
    for end, at in enumerate(times):
        while times[start] <= at - span:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_the_limit_passes_at_once_then_one_request_per_interval(backend: str) -> None:
    # given a 30/min key (one request earned every 2 s) that sent nothing yet
    now = BOUNDARY + 10
    # when it sends 31 at once
    answers = [hit(now) for _ in range(31)]
    # then 30 pass, counted down from 29 to 0, and the 31st is refused for 2 s
    passed = [a for a in answers if a is not None]
    assert len(passed) == 30 and answers[30] is None
    assert [int(a["X-RateLimit-Remaining"]) for a in passed] == list(range(29, -1, -1))
    assert {a["X-RateLimit-Limit"] for a in passed} == {"30"}
    # the whole allowance is back 60 s after the burst (if it sends nothing more)
    assert passed[-1]["X-RateLimit-Reset"] == str(int(now) + 60)
    with pytest.raises(ApiError) as refused:
        ratelimit_hit(key_id=KEY, limit=30, now=now + 1)
    assert refused.value.headers["Retry-After"] == "1"
    assert refused.value.headers["X-RateLimit-Remaining"] == "0"
    assert refused.value.headers["X-RateLimit-Reset"] == str(int(now) + 60)
    assert hit(now + 1.99) is None
    assert hit(now + 2) is not None  # one earned
    assert hit(now + 2.5) is None
    # and after a quiet minute the whole allowance is back
    assert sum(hit(now + 2 + 60) is not None for _ in range(31)) == 30


def test_a_burst_across_a_minute_boundary_is_not_doubled(backend: str) -> None:
    """The reproducer: 60 requests in 2.4 s across a minute boundary all passed a 30/min key
    under the fixed window (30 in the old minute, 30 in the new one)."""
    times = [BOUNDARY - 1.2 + i * 0.04 for i in range(60)]
    passed = [t for t in times if hit(t) is not None]
    # 30 at once, then the one earned 2 s later
    assert len(passed) == 30 + 1
    assert passed[-1] == pytest.approx(BOUNDARY - 1.2 + 2, abs=0.05)


def test_no_60_second_span_passes_more_than_the_limit_plus_its_burst(backend: str) -> None:
    """A client trying 25 times a second for 2.4 s across a minute boundary (the fixed
    window passed all 60), then 4 times a second for 2.5 minutes: at most 31 in any 2.4 s,
    at most 2 x 30 - 1 in any 60 s span (the burst of 30 plus the 29 earned within the
    span), and after the burst exactly 30 a minute."""
    start = BOUNDARY - 1.2
    tries = [start + i * 0.04 for i in range(60)]
    tries += [start + 2.4 + i * 0.25 for i in range(590)]
    passed = [t for t in tries if hit(t) is not None]
    assert most_in_any_span(passed, 2.4) == 30 + 1
    assert most_in_any_span(passed, 60) == 2 * 30 - 1
    assert most_in_any_span(passed[30:], 60) == 30
    assert len(passed) == 30 + 74  # the burst, then one every 2 s for the remaining 148 s


def test_a_changed_limit_applies_to_the_next_request(backend: str) -> None:
    now = BOUNDARY + 5
    assert [hit(now, limit=2) is not None for _ in range(3)] == [True, True, False]
    # raised to 60/min: the state is a time (a full minute used), so 10 s later the key has
    # earned 10 requests at the new rate, not the whole new burst
    assert sum(hit(now + 10, limit=60) is not None for _ in range(20)) == 10
    # lowered to 1/min: nothing until the minute already used has passed
    assert hit(now + 30, limit=1) is None
    assert hit(now + 70, limit=1) is not None
    assert hit(now + 70, limit=1) is None


def test_the_database_keeps_one_row_per_key(settings: Any, db: None) -> None:
    settings.REDIS_URL = ""
    rate_counters_clear(KEY)
    for i in range(5):
        hit(BOUNDARY + i * 30)
    assert RateCounter.objects.filter(api_key_id=KEY).count() == 1
    rate_counters_clear(KEY)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a race needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("shared", ["database", "redis"])
def test_sixty_requests_at_once_on_a_30_a_minute_key_pass_exactly_30(
    shared: str, settings: Any
) -> None:
    # given a 30/min key, and 60 threads (own connections) released together on the real clock
    if shared == "redis" and not REDIS_URL:
        pytest.skip("REDIS_URL names no Redis")
    settings.REDIS_URL = REDIS_URL if shared == "redis" else ""
    rate_counters_clear(KEY)
    barrier = threading.Barrier(60)
    results: list[str] = []

    def one() -> None:
        barrier.wait()
        try:
            ratelimit_hit(key_id=KEY, limit=30)
            results.append("passed")
        except ApiError as refused:
            results.append(refused.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=one) for _ in range(60)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then exactly 30 pass and the other 30 are rate_limited
    assert sorted(results) == ["passed"] * 30 + ["rate_limited"] * 30
    if shared == "database":
        assert RateCounter.objects.filter(api_key_id=KEY).count() == 1
    rate_counters_clear(KEY)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a race needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_a_new_keys_first_requests_at_once_all_pass_under_its_limit(settings: Any) -> None:
    # given a 600/min key that has never been counted (no row yet), no Redis, and 20 threads
    # (own connections) sending its first requests together, many times over
    settings.REDIS_URL = ""
    refused = 0
    for _ in range(15):
        rate_counters_clear(KEY)
        barrier = threading.Barrier(20)
        results: list[str] = []

        def one(barrier: threading.Barrier = barrier, results: list[str] = results) -> None:
            barrier.wait()
            try:
                ratelimit_hit(key_id=KEY, limit=600)
                results.append("passed")
            except ApiError as err:
                results.append(err.code)
            finally:
                connection.close()

        threads = [threading.Thread(target=one) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        refused += results.count("rate_limited")
        assert len(results) == 20
        # then the key has one row, advanced once per request
        assert RateCounter.objects.filter(api_key_id=KEY).count() == 1
    # and none was refused: 20 requests are far below a burst of 600 (a request that found
    # no row, then read the row another one had just made, was refused)
    assert refused == 0
    rate_counters_clear(KEY)
