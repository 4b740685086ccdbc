"""Route health (gateway/pipeline/health.py): circuit breakers shared by every process, on each
of their stores, the database (always) and Redis (when REDIS_URL names one). "Another process"
is this one with its copy of the shared state forgotten, or a real child process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from django.db import connection

from catalog.selectors import RouteInfo
from gateway.models import RouteBreaker
from gateway.pipeline import health, routing

ROUTE = 9_100_001  # not a catalog route: breakers need only an id
OTHER = -9_100_002  # a user's own provider (a negative id)
REDIS_URL = os.environ.get("REDIS_URL", "")
T = 1_800_000_000.0  # Unix seconds


@pytest.fixture(params=["database", "redis"])
def store(request: pytest.FixtureRequest, settings: Any, db: None) -> Iterator[str]:
    if request.param == "redis" and not REDIS_URL:
        pytest.skip("REDIS_URL names no Redis")
    settings.REDIS_URL = REDIS_URL if request.param == "redis" else ""
    settings.GATEWAY_CIRCUIT_FAILURES = 3
    settings.GATEWAY_CIRCUIT_COOLDOWN_SECONDS = 30.0
    health.health_reset()
    yield request.param
    health.health_reset()


def another_process() -> None:
    """What a second process knows of the breakers: only the shared store."""
    health.health_cache_clear()


def fail(route_id: int, times: int, now: float = T) -> None:
    for _ in range(times):
        health.route_record(route_id, ok=False, now=now)


def at_once(n: int, work: Callable[[], None]) -> None:
    """``work`` in ``n`` threads (own connections) released together."""
    barrier = threading.Barrier(n)

    def one() -> None:
        barrier.wait()
        try:
            work()
        finally:
            connection.close()

    threads = [threading.Thread(target=one) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_failures_recorded_here_open_the_route_for_another_process(store: str) -> None:
    # given a route that failed twice (of 3) here: still closed everywhere
    fail(ROUTE, 2)
    another_process()
    assert not health.route_is_open(ROUTE, now=T)
    assert health.route_health([ROUTE])[ROUTE] == health.RouteHealth("closed", 2, None)
    # when it fails a third time here
    fail(ROUTE, 1)
    # then it is open here at once, and for the other process, for 30 s from the failure
    assert health.route_is_open(ROUTE, now=T + 1)
    another_process()
    assert health.route_is_open(ROUTE, now=T + 1)
    shown = health.route_health([ROUTE, OTHER])
    assert shown[ROUTE].state == "open" and shown[ROUTE].failures == 0
    assert shown[ROUTE].open_until is not None
    assert shown[ROUTE].open_until.timestamp() == pytest.approx(T + 30.0, abs=0.001)
    assert shown[ROUTE].open_until.utcoffset().total_seconds() == 0
    # and a route never seen is closed with no failures
    assert shown[OTHER] == health.RouteHealth("closed", 0, None)
    assert set(health.route_health_all()) == {ROUTE}


def test_the_cooldown_closes_it_on_its_own(store: str, settings: Any) -> None:
    # given a route opened at T (on the real clock too, with a 0.3 s cooldown)
    fail(ROUTE, 3)
    settings.GATEWAY_CIRCUIT_COOLDOWN_SECONDS = 0.3
    fail(OTHER, 3, now=time.time())
    another_process()
    # then it is open until T + 30 and closed after it
    assert health.route_is_open(ROUTE, now=T + 29.9)
    assert not health.route_is_open(ROUTE, now=T + 30.1)
    assert health.route_health([OTHER])[OTHER].state == "open"
    time.sleep(0.35)
    assert health.route_health([OTHER])[OTHER] == health.RouteHealth("closed", 0, None)
    assert not health.route_is_open(OTHER)


def test_a_success_resets_the_count_and_closes_an_open_route(store: str) -> None:
    # given two failures, a success, and two failures more (seen by another process)
    fail(ROUTE, 2)
    another_process()
    health.route_record(ROUTE, ok=True, now=T)
    fail(ROUTE, 2)
    another_process()
    # then the route is closed: the failures were not consecutive
    assert health.route_health([ROUTE])[ROUTE] == health.RouteHealth("closed", 2, None)
    # when it opens, and a last-resort attempt on it succeeds in another process
    fail(ROUTE, 1)
    another_process()
    assert health.route_is_open(ROUTE, now=T + 1)
    health.route_record(ROUTE, ok=True, now=T + 1)
    # then it is closed for everyone
    another_process()
    assert not health.route_is_open(ROUTE, now=T + 1)
    assert health.route_health([ROUTE])[ROUTE] == health.RouteHealth("closed", 0, None)


def test_a_success_on_a_clean_route_writes_nothing(
    store: str, django_assert_num_queries: Any
) -> None:
    # given a route never seen, read a moment ago by routing
    health.health_prefetch([ROUTE])
    # when it succeeds, then nothing is sent (no query, no Redis command)
    with django_assert_num_queries(0):
        health.route_record(ROUTE, ok=True, now=T)
    # when this process's copy is stale, the conditional write still writes nothing
    another_process()
    health.route_record(ROUTE, ok=True, now=T)
    assert health.route_health_all() == {}
    assert not RouteBreaker.objects.exists()
    if store == "redis":
        client = redis.Redis.from_url(REDIS_URL)
        assert not client.exists(f"breaker:{ROUTE}")
        client.close()


def test_routing_reads_every_route_in_one_query_then_none_for_a_second(
    settings: Any, db: None, django_assert_num_queries: Any
) -> None:
    # given three routes of one model, no Redis, one of them open
    settings.REDIS_URL = ""
    settings.GATEWAY_CIRCUIT_FAILURES = 1
    health.health_reset()
    health.route_record(2, ok=False)
    another_process()
    routes = tuple(_route(i) for i in (1, 2, 3))
    # when routing orders them: one query for all three
    with django_assert_num_queries(1):
        ordered = routing.routes_order(routes)
    assert [r.id for r in ordered][-1] == 2
    # and within the next second, none
    with django_assert_num_queries(0):
        routing.routes_order(routes)
    health.health_reset()


def test_routes_reset_forgets_the_redis_breakers(settings: Any, db: None) -> None:
    # given breakers in Redis (they outlive the test database)
    if not REDIS_URL:
        pytest.skip("REDIS_URL names no Redis")
    settings.REDIS_URL = REDIS_URL
    settings.GATEWAY_CIRCUIT_FAILURES = 1
    fail(ROUTE, 1)
    fail(OTHER, 1)
    assert set(health.route_health_all()) == {ROUTE, OTHER}
    # when tests/conftest.py's reset runs, then none is left
    routing.routes_reset()
    client = redis.Redis.from_url(REDIS_URL)
    assert client.keys("breaker:*") == []
    client.close()
    assert health.route_health_all() == {}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a race needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("shared", ["database", "redis"])
def test_concurrent_failures_are_all_counted(shared: str, settings: Any) -> None:
    # given 20 threads (own connections) each recording 5 failures of one route at once
    if shared == "redis" and not REDIS_URL:
        pytest.skip("REDIS_URL names no Redis")
    settings.REDIS_URL = REDIS_URL if shared == "redis" else ""
    settings.GATEWAY_CIRCUIT_FAILURES = 1000
    health.health_reset()
    at_once(20, lambda: fail(ROUTE, 5))
    # then all 100 are counted (none lost), in one row
    assert health.route_health([ROUTE])[ROUTE] == health.RouteHealth("closed", 100, None)
    if shared == "database":
        assert RouteBreaker.objects.filter(route_id=ROUTE).count() == 1
    # and with a threshold of 7, 70 more at once open it exactly ten times: the count is 0
    settings.GATEWAY_CIRCUIT_FAILURES = 7
    health.health_reset()
    RouteBreaker.objects.all().delete()
    at_once(10, lambda: fail(OTHER, 7))
    seen = health.route_health([OTHER])[OTHER]
    assert (seen.state, seen.failures) == ("open", 0)
    health.health_reset()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="two processes need PostgreSQL")
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("shared", ["database", "redis"])
def test_a_child_process_opens_the_breaker_for_this_one(shared: str, settings: Any) -> None:
    # given a real second process on the same database and Redis
    if shared == "redis" and not REDIS_URL:
        pytest.skip("REDIS_URL names no Redis")
    settings.REDIS_URL = REDIS_URL if shared == "redis" else ""
    settings.GATEWAY_CIRCUIT_FAILURES = 3
    health.health_reset()
    health.health_prefetch([ROUTE])
    assert not health.route_is_open(ROUTE)
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "GATEWAY_CIRCUIT_FAILURES": "3",
    }
    # when it records three failures of the route
    script = (
        "import django; django.setup()\n"
        "from gateway.pipeline import routing\n"
        f"for _ in range(3): routing.route_record({ROUTE}, ok=False)\n"
        f"print(routing.route_is_open({ROUTE}))\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert child.stdout.strip() == "True", child.stderr
    # then this process sees it open once its one-second copy is stale
    time.sleep(health.CACHE_SECONDS + 0.05)
    assert health.route_is_open(ROUTE)
    assert routing.route_is_open(ROUTE)
    health.health_reset()


def _route(route_id: int) -> RouteInfo:
    return RouteInfo(
        id=route_id,
        provider_slug=f"p{route_id}",
        provider_name="",
        dialect="openai",
        base_url="",
        api_key_env="",
        upstream_model="m",
        priority=0,
        weight=1,
    )
