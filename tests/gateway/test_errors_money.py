"""Refusals that depend on money, rate and upstreams: 402, 429, 502 and 503. None charges
and none leaves a hold."""

from __future__ import annotations

import time

import pytest
from django.conf import settings

from billing.models import KeySpend
from gateway.models import Generation
from tests.factories import FAKE_KEY_ENV, AccountFactory, ModelFactory
from tests.fakes.upstream import FakeUpstream
from tests.helpers import (
    ApiClient,
    assert_error,
    assert_not_charged,
    chat_body,
    rate_counters_clear,
)

START = 10_000_000
URL = "/v1/chat/completions"


def test_account_too_poor_for_one_token_is_insufficient_credits(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory, upstream: FakeUpstream
) -> None:
    # given 99 credits, below the 100-credit minimum charge
    make_model("test/echo")
    account = make_account(99)
    # when the client sends no max_tokens
    resp = api.post(URL, chat_body(), account=account)
    # then
    error = assert_error(resp, 402, "insufficient_credits")
    assert "99" in error["message"]
    assert_not_charged(account, 99)
    assert upstream.requests == []


def test_empty_account_is_insufficient_credits(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory, upstream: FakeUpstream
) -> None:
    make_model("test/echo")
    account = make_account(0)
    resp = api.post(URL, chat_body(max_tokens=1), account=account)
    assert_error(resp, 402, "insufficient_credits")
    assert_not_charged(account, 0)
    assert upstream.requests == []


def test_max_tokens_costing_more_than_the_balance_is_insufficient_credits(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory, upstream: FakeUpstream
) -> None:
    # given 1,000 credits and a request that may cost 900 x 6.25 = 5,625 credits
    make_model("test/echo")
    account = make_account(1_000)
    resp = api.post(URL, chat_body(max_tokens=900), account=account)
    assert_error(resp, 402, "insufficient_credits")
    assert_not_charged(account, 1_000)
    assert upstream.requests == []
    # and a max_tokens the balance covers is served
    assert api.post(URL, chat_body(max_tokens=100), account=account).status_code == 200


def test_key_limit_below_one_token_is_key_limit_exceeded(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory, upstream: FakeUpstream
) -> None:
    # given a rich account whose key may spend only 50 credits a month
    make_model("test/echo")
    account = make_account(START, monthly_limit=50)
    resp = api.post(URL, chat_body(), account=account)
    assert_error(resp, 402, "key_limit_exceeded")
    assert_not_charged(account, START)
    assert upstream.requests == []


def test_max_tokens_above_the_key_limit_is_key_limit_exceeded(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory, upstream: FakeUpstream
) -> None:
    make_model("test/echo")
    account = make_account(START, monthly_limit=1_000)
    resp = api.post(URL, chat_body(max_tokens=500), account=account)
    assert_error(resp, 402, "key_limit_exceeded")
    assert_not_charged(account, START)
    assert upstream.requests == []


def test_key_limit_binds_after_spending(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory, upstream: FakeUpstream
) -> None:
    # given a key limited to 150 credits a month
    make_model("test/echo")
    account = make_account(START, monthly_limit=150)
    # when the first request spends the 100-credit minimum
    first = api.post(URL, chat_body(text="hi"), account=account)
    assert first.status_code == 200, first.content
    assert first.json()["usage"]["cost"] == 100
    # then the 50 credits left cannot pay for another
    second = api.post(URL, chat_body(text="hi"), account=account)
    assert_error(second, 402, "key_limit_exceeded")
    assert account.balance() == START - 100 and account.held() == 0
    spend = KeySpend.objects.get(api_key=account.key)
    assert (spend.spent, spend.held) == (100, 0)
    assert len(upstream.requests) == 1


def test_third_request_in_a_minute_over_a_limit_of_two_is_rate_limited(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory, upstream: FakeUpstream
) -> None:
    # given a key allowed 2 requests per minute (one earned every 30 s, two at once)
    make_model("test/echo")
    account = make_account(START, rate_limit_rpm=2)
    rate_counters_clear(account.key.pk)
    started = time.time()
    # when it sends three
    first = api.post(URL, chat_body(), account=account)
    second = api.post(URL, chat_body(), account=account)
    third = api.post(URL, chat_body(), account=account)
    elapsed = time.time() - started
    # then the first two are served and counted down, the third is refused
    assert (first.status_code, second.status_code) == (200, 200)
    assert first["X-RateLimit-Limit"] == "2" and first["X-RateLimit-Remaining"] == "1"
    assert second["X-RateLimit-Remaining"] == "0"
    # the whole allowance is back 60 s after the first request; the next one 30 s after it
    assert started + 60 <= int(second["X-RateLimit-Reset"]) <= started + elapsed + 61
    assert_error(third, 429, "rate_limited")
    assert third["X-RateLimit-Limit"] == "2"
    assert third["X-RateLimit-Remaining"] == "0"
    assert third["X-RateLimit-Reset"] == second["X-RateLimit-Reset"]
    assert 30 - elapsed <= int(third["Retry-After"]) <= 30
    assert len(upstream.requests) == 2
    cost = first.json()["usage"]["cost"] + second.json()["usage"]["cost"]
    assert account.balance() == START - cost and account.held() == 0
    assert Generation.objects.filter(api_key=account.key, status="success").count() == 2
    assert Generation.objects.get(request_id=third["X-Request-Id"]).status == "refused"
    rate_counters_clear(account.key.pk)


def test_rate_limit_is_per_key(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory
) -> None:
    make_model("test/echo")
    limited = make_account(START, rate_limit_rpm=1)
    other = make_account(START, rate_limit_rpm=1)
    for account in (limited, other):
        rate_counters_clear(account.key.pk)
    assert api.post(URL, chat_body(), account=limited).status_code == 200
    assert_error(api.post(URL, chat_body(), account=limited), 429, "rate_limited")
    assert api.post(URL, chat_body(), account=other).status_code == 200
    for account in (limited, other):
        rate_counters_clear(account.key.pk)


@pytest.mark.parametrize("upstreams", [("fail-500",), ("fail-500", "fail-429"), ("malformed",)])
def test_every_route_failing_is_provider_error(
    api: ApiClient,
    make_model: ModelFactory,
    make_account: AccountFactory,
    upstream: FakeUpstream,
    upstreams: tuple[str, ...],
) -> None:
    # given a model whose every route fails in a retryable way
    make_model("test/down", upstream_models=upstreams)
    account = make_account(START)
    # when
    resp = api.post(URL, chat_body("test/down"), account=account)
    # then every route was tried, the answer is 502, and nothing is charged
    assert_error(resp, 502, "provider_error")
    assert_not_charged(account, START)
    assert [r["body"]["model"] for r in upstream.requests] == list(upstreams)
    gen = Generation.objects.get(request_id=resp["X-Request-Id"])
    assert (gen.status, gen.http_status, gen.error_code) == ("error", 502, "provider_error")
    assert gen.cost == 0 and gen.ledger_entry is None
    assert len(gen.attempts) == len(upstreams)


def test_failover_stops_at_the_retry_budget(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory, upstream: FakeUpstream
) -> None:
    # given four failing routes and a budget of three attempts per model
    assert settings.GATEWAY_MAX_ATTEMPTS == 3
    make_model("test/down", upstream_models=("fail-500", "fail-502", "fail-503", "fail-504"))
    account = make_account(START)
    resp = api.post(URL, chat_body("test/down"), account=account)
    assert_error(resp, 502, "provider_error")
    assert [r["body"]["model"] for r in upstream.requests] == ["fail-500", "fail-502", "fail-503"]
    assert_not_charged(account, START)


def test_upstream_refusing_the_gateway_key_is_provider_error(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory
) -> None:
    make_model("test/badcreds", upstream_models=("fail-401",))
    account = make_account(START)
    resp = api.post(URL, chat_body("test/badcreds"), account=account)
    assert_error(resp, 502, "provider_error")
    assert_not_charged(account, START)


def test_provider_without_its_key_in_the_environment_is_provider_not_configured(
    api: ApiClient,
    make_model: ModelFactory,
    make_account: AccountFactory,
    upstream: FakeUpstream,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given the provider's key variable is not set
    make_model("test/echo")
    account = make_account(START)
    monkeypatch.delenv(FAKE_KEY_ENV)
    # when
    resp = api.post(URL, chat_body(), account=account)
    # then
    error = assert_error(resp, 503, "provider_not_configured")
    assert FAKE_KEY_ENV in error["message"]
    assert "upstream-secret" not in resp.content.decode()
    assert_not_charged(account, START)
    assert upstream.requests == []


def test_model_without_routes_is_no_route_available(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory, upstream: FakeUpstream
) -> None:
    make_model("test/orphan", upstream_models=())
    account = make_account(START)
    resp = api.post(URL, chat_body("test/orphan"), account=account)
    assert_error(resp, 503, "no_route_available")
    assert_not_charged(account, START)
    assert upstream.requests == []


def test_model_whose_routes_are_all_disabled_is_no_route_available(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory, upstream: FakeUpstream
) -> None:
    model = make_model("test/paused")
    model.routes.update(is_enabled=False)
    model.save()  # the registry changed: drop the cached catalog
    account = make_account(START)
    resp = api.post(URL, chat_body("test/paused"), account=account)
    assert_error(resp, 503, "no_route_available")
    assert_not_charged(account, START)
    assert upstream.requests == []


def test_settings_minimum_charge_is_the_one_assumed_here() -> None:
    assert settings.BILLING_MIN_CHARGE == 100


def test_a_refused_model_name_with_a_nul_is_still_in_the_request_log(
    api: ApiClient, make_account: AccountFactory, upstream: FakeUpstream
) -> None:
    # given a model name carrying a NUL, which PostgreSQL's text columns refuse
    account = make_account(START)
    resp = api.post(URL, chat_body(model="acme/pic\u0000", max_tokens=1), account=account)
    # then it is refused, charged nothing, and its refusal recorded with the NUL shown
    assert_error(resp, 400, "invalid_parameter", param="model")
    assert_not_charged(account, START)
    row = Generation.objects.get(request_id=resp["X-Request-Id"])
    assert (row.status, row.http_status, row.model) == ("refused", 400, "acme/pic\ufffd")
    assert upstream.requests == []
