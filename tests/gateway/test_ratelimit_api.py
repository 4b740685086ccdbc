"""The rate limit as clients see it: one count per key shared by every keyed endpoint, and
what happens when Redis is unreachable."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

import pytest

from gateway.models import Generation
from gateway.pipeline import ratelimit
from tests.factories import AccountFactory, ModelFactory
from tests.fakes.upstream import FakeUpstream
from tests.helpers import ApiClient, assert_error, chat_body, rate_counters_clear

START = 10_000_000
COUNT_TOKENS = "/v1/messages/count_tokens"
MESSAGE = {"model": "test/echo", "messages": [{"role": "user", "content": "hi"}]}


def test_the_keyed_endpoints_share_the_keys_count(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory, upstream: FakeUpstream
) -> None:
    # given a key of 4 requests a minute
    make_model("test/echo")
    account = make_account(START, rate_limit_rpm=4)
    rate_counters_clear(account.key.pk)
    # when it calls each keyed endpoint once (a missing generation is counted too)
    answers = [
        api.get("/v1/key", account=account),
        api.post(COUNT_TOKENS, MESSAGE, account=account),
        api.get("/v1/generation?id=gen-missing", account=account),
        api.post("/v1/chat/completions", chat_body(max_tokens=5), account=account),
    ]
    # then they counted down one allowance of 4
    assert [a.status_code for a in answers] == [200, 200, 404, 200]
    assert [a["X-RateLimit-Remaining"] for a in answers] == ["3", "2", "1", "0"]
    assert {a["X-RateLimit-Limit"] for a in answers} == {"4"}
    # and each of them is refused now, in its own error shape, with Retry-After
    for resp in (
        api.get("/v1/key", account=account),
        api.get("/v1/generation?id=gen-missing", account=account),
        api.post("/v1/chat/completions", chat_body(max_tokens=5), account=account),
    ):
        assert_error(resp, 429, "rate_limited")
        assert 1 <= int(resp["Retry-After"]) <= 15
    refused = api.post(COUNT_TOKENS, MESSAGE, account=account)
    assert refused.status_code == 429
    body = refused.json()
    assert (body["type"], body["error"]["type"]) == ("error", "rate_limit_error")
    # the public model list needs no key and is not limited
    assert api.get("/v1/models", account=account).status_code == 200
    assert len(upstream.requests) == 1
    assert Generation.objects.filter(api_key=account.key, status="success").count() == 1
    # the requests to a model keep their refusal (chat and count_tokens); /v1/key and
    # /v1/generation, calls about the key and a record, keep none
    refused_surfaces = Generation.objects.filter(api_key=account.key, status="refused")
    assert sorted(refused_surfaces.values_list("surface", flat=True)) == [
        "chat.completions",
        "messages.count_tokens",
    ]
    rate_counters_clear(account.key.pk)


def test_a_key_without_a_limit_gets_no_rate_headers(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory
) -> None:
    account = make_account(START, ignore_tier=True)  # no rate limit: only outside a tier
    resp = api.get("/v1/key", account=account)
    assert resp.status_code == 200
    assert "X-RateLimit-Limit" not in resp


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def redis_down(settings: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """REDIS_URL, for the limiter, at a port that refuses connections. Where the tests run
    with a real Redis, the Django cache (which nothing on the API path uses) is pointed
    there too, so a use of it would fail the tests."""
    url = f"redis://127.0.0.1:{closed_port()}/0"
    settings.REDIS_URL = url
    if os.environ.get("REDIS_URL"):
        settings.CACHES = {
            "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
        }
    monkeypatch.setattr(ratelimit, "_local", {})
    return url


def test_with_redis_unreachable_the_limit_holds_per_process_and_is_logged_once(
    api: ApiClient,
    make_model: ModelFactory,
    make_account: AccountFactory,
    upstream: FakeUpstream,
    redis_down: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given a 3/min key, and the limiter's Redis refusing connections
    make_model("test/echo")
    account = make_account(START, rate_limit_rpm=3)
    caplog.set_level(logging.WARNING, logger="gateway.pipeline.ratelimit")
    # when it sends 10 billed requests and a few keyed reads
    billed = [
        api.post("/v1/chat/completions", chat_body(max_tokens=5), account=account)
        for _ in range(10)
    ]
    reads = [api.get("/v1/key", account=account), api.post(COUNT_TOKENS, MESSAGE, account=account)]
    # then the first 3 are served and the rest refused in JSON, as with a shared limit
    assert [r.status_code for r in billed] == [200] * 3 + [429] * 7
    for resp in billed[3:] + reads:
        assert resp.status_code == 429
        assert resp["Content-Type"].startswith("application/json")
        assert int(resp["Retry-After"]) >= 1
    assert [r["X-RateLimit-Remaining"] for r in billed[:3]] == ["2", "1", "0"]
    assert len(upstream.requests) == 3
    assert Generation.objects.filter(api_key=account.key, status="success").count() == 3
    # and the outage was logged once, not once per request
    warnings = [r for r in caplog.records if r.name == "gateway.pipeline.ratelimit"]
    assert len(warnings) == 1
    assert "Redis unreachable" in warnings[0].getMessage()
    assert "limiting per process" in warnings[0].getMessage()


def test_redis_is_tried_again_after_the_retry_interval(
    make_account: AccountFactory,
    redis_down: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given one refused connection: the per-process limit is used for REDIS_RETRY_SECONDS
    account = make_account(START)
    caplog.set_level(logging.WARNING, logger="gateway.pipeline.ratelimit")
    tried: list[int] = []
    ratelimit.ratelimit_hit(key_id=account.key.pk, limit=100)
    state = ratelimit._redis_get()
    assert state.down_until > 0

    def count_tries(*args: Any, **kwargs: Any) -> Any:
        tried.append(1)
        return real_script(*args, **kwargs)

    real_script = state.script
    monkeypatch.setattr(state, "script", count_tries)
    for _ in range(20):
        ratelimit.ratelimit_hit(key_id=account.key.pk, limit=100)
    assert tried == []  # not asked again within the interval
    state.down_until = 0.0  # the interval has passed
    ratelimit.ratelimit_hit(key_id=account.key.pk, limit=100)
    assert tried == [1]  # asked, refused again: still one warning in this minute
    assert len([r for r in caplog.records if r.name == "gateway.pipeline.ratelimit"]) == 1
