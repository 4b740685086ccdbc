"""POST /v1/chat/completions through Django's test client against the real fake upstream:
the charge, the response, routing failover, fallback models and usage edge cases."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import override_settings

from billing.models import Hold, LedgerEntry
from billing.selectors import ledger_breaches
from gateway.models import Generation
from tests.factories import AccountFactory, ModelFactory
from tests.fakes.upstream import FakeUpstream
from tests.helpers import (
    ApiClient,
    assert_error,
    assert_not_charged,
    chat_body,
    cost_of,
    fake_usage,
)

START = 10_000_000


def usage_entries(account) -> list[LedgerEntry]:
    return list(
        LedgerEntry.objects.filter(account=account.user.credit_account, kind=LedgerEntry.Kind.USAGE)
    )


@pytest.mark.parametrize("prefix", ["/v1", "/api/v1"])
def test_completion_charges_the_cost_from_prices_and_reported_usage(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory, prefix: str
) -> None:
    # given prices high enough that the minimum charge does not hide the arithmetic
    make_model("test/echo", prompt="30", completion="70", request="0.0001")
    account = make_account(START)
    body = chat_body(text="one two three four five", max_tokens=50)
    prompt_tokens, completion_tokens = fake_usage(body)
    expected = cost_of(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        prompt="30",
        completion="70",
        request="100",  # 0.0001 USD per request = 100 credits
    )
    # when
    resp = api.post(f"{prefix}/chat/completions", body, account=account)
    # then 10 x 30 + 6 x 70 + 100 = 820 credits, once
    assert resp.status_code == 200, resp.content
    assert (prompt_tokens, completion_tokens, expected) == (10, 6, 820)
    data = resp.json()
    assert data["usage"] == {
        "prompt_tokens": 10,
        "completion_tokens": 6,
        "total_tokens": 16,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
        "cost": 820,
    }
    assert account.balance() == START - 820
    assert account.held() == 0
    [entry] = usage_entries(account)
    assert entry.amount == -820 and entry.reference == data["id"]
    assert entry.balance_after == START - 820
    gen = Generation.objects.get(request_id=data["id"])
    assert gen.status == Generation.Status.SUCCESS and gen.http_status == 200
    assert (gen.prompt_tokens, gen.completion_tokens, gen.cost) == (10, 6, 820)
    assert gen.ledger_entry_id == entry.pk
    assert gen.surface == "chat.completions"
    assert Decimal(gen.prices["prompt"]) == 30 and Decimal(gen.prices["completion"]) == 70
    assert ledger_breaches() == []


def test_small_request_pays_the_minimum_charge(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory
) -> None:
    # given the default cheap prices (1.5 / 6.25 credits per token)
    make_model("test/echo")
    account = make_account(START)
    # when a 10-token prompt gets a 4-word reply (15 + 25 = 40 credits of tokens)
    resp = api.post("/v1/chat/completions", chat_body(max_tokens=20), account=account)
    # then the 100-credit minimum is charged
    assert resp.status_code == 200, resp.content
    assert resp.json()["usage"]["cost"] == 100
    assert account.balance() == START - 100


def test_free_model_charges_nothing_and_still_records(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory
) -> None:
    make_model("test/free", prompt="0", completion="0", request="0")
    account = make_account(START)
    resp = api.post("/v1/chat/completions", chat_body("test/free"), account=account)
    assert resp.status_code == 200, resp.content
    assert resp.json()["usage"]["cost"] == 0
    assert account.balance() == START and account.held() == 0
    gen = Generation.objects.get(request_id=resp.json()["id"])
    assert gen.cost == 0 and gen.ledger_entry.amount == 0


def test_x_api_key_header_authenticates(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory
) -> None:
    make_model("test/echo")
    account = make_account(START)
    resp = api.post("/v1/chat/completions", chat_body(), HTTP_X_API_KEY=account.secret)
    assert resp.status_code == 200, resp.content
    assert account.balance() == START - resp.json()["usage"]["cost"]


def test_response_names_the_request_the_public_model_and_the_provider(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory, upstream: FakeUpstream
) -> None:
    # given a model called by its alias
    make_model("vendor/real-name", aliases=("short",))
    account = make_account(START)
    # when
    resp = api.post("/v1/chat/completions", chat_body("short"), account=account)
    # then the id is the request id, and the public id (not the alias, not upstream's) is shown
    assert resp.status_code == 200, resp.content
    data = resp.json()
    assert data["id"] == resp["X-Request-Id"]
    assert data["id"].startswith("gen-") and len(data["id"]) > len("gen-")
    assert data["object"] == "chat.completion"
    assert data["model"] == "vendor/real-name"
    assert data["provider"] == "Fake"
    assert data["choices"][0]["message"] == {"role": "assistant", "content": "echo: one two three"}
    assert data["choices"][0]["finish_reason"] == "stop"
    assert upstream.requests[-1]["body"]["model"] == "echo"
    assert upstream.requests[-1]["headers"]["Authorization"] == "Bearer upstream-secret"
    gen = Generation.objects.get(request_id=data["id"])
    assert (gen.model, gen.upstream_model) == ("vendor/real-name", "echo")


def test_each_request_gets_its_own_id(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory
) -> None:
    make_model("test/echo")
    account = make_account(START)
    ids = {
        api.post("/v1/chat/completions", chat_body(), account=account).json()["id"] for _ in "ab"
    }
    assert len(ids) == 2
    assert Generation.objects.filter(request_id__in=ids).count() == 2
    assert account.balance() == START - 200


def test_retryable_failure_fails_over_to_the_next_route_and_charges_once(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory, upstream: FakeUpstream
) -> None:
    # given a model whose preferred route answers 500 and whose second route works
    make_model("test/flaky", upstream_models=("fail-500", "echo"), prompt="30", completion="70")
    account = make_account(START)
    # when
    resp = api.post("/v1/chat/completions", chat_body("test/flaky"), account=account)
    # then the second route served it, and it was charged exactly once
    assert resp.status_code == 200, resp.content
    expected = cost_of(prompt_tokens=10, completion_tokens=4, prompt="30", completion="70")
    assert resp.json()["usage"]["cost"] == expected == 580
    assert account.balance() == START - expected and account.held() == 0
    assert len(usage_entries(account)) == 1
    assert [r["body"]["model"] for r in upstream.requests] == ["fail-500", "echo"]
    assert ledger_breaches() == []
    gen = Generation.objects.get(request_id=resp.json()["id"])
    assert [(a["status"], a["model"]) for a in gen.attempts] == [
        (500, "test/flaky"),
        (200, "test/flaky"),
    ]
    assert gen.upstream_model == "echo"


@override_settings(GATEWAY_CIRCUIT_FAILURES=2)
def test_route_that_keeps_failing_is_taken_out_of_rotation(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory, upstream: FakeUpstream
) -> None:
    # given a preferred route that fails, twice in a row
    make_model("test/flaky", upstream_models=("fail-503", "echo"))
    account = make_account(START)
    for _ in range(2):
        resp = api.post("/v1/chat/completions", chat_body("test/flaky"), account=account)
        assert resp.status_code == 200, resp.content
    upstream.requests.clear()
    # when the next request comes
    resp = api.post("/v1/chat/completions", chat_body("test/flaky"), account=account)
    # then the failing route is skipped for its cool-down
    assert resp.status_code == 200, resp.content
    assert [r["body"]["model"] for r in upstream.requests] == ["echo"]
    assert account.balance() == START - 3 * 100


@override_settings(GATEWAY_UPSTREAM_READ_TIMEOUT=0.5)
def test_timeout_fails_over_to_the_next_route(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory
) -> None:
    make_model("test/slowpoke", upstream_models=("timeout", "echo"))
    account = make_account(START)
    resp = api.post("/v1/chat/completions", chat_body("test/slowpoke"), account=account)
    assert resp.status_code == 200, resp.content
    gen = Generation.objects.get(request_id=resp.json()["id"])
    assert [a["status"] for a in gen.attempts] == [0, 200]
    assert account.balance() == START - 100


def test_non_retryable_failure_does_not_fail_over_and_charges_nothing(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory, upstream: FakeUpstream
) -> None:
    # given a first route that rejects the request (400) before a working one
    make_model("test/strict", upstream_models=("fail-400", "echo"))
    account = make_account(START)
    # when
    resp = api.post("/v1/chat/completions", chat_body("test/strict"), account=account)
    # then the rejection is passed on, the working route is never tried, nothing is charged
    assert_error(resp, 400, "invalid_request")
    assert [r["body"]["model"] for r in upstream.requests] == ["fail-400"]
    assert_not_charged(account, START)
    gen = Generation.objects.get(request_id=resp["X-Request-Id"])
    assert (gen.status, gen.http_status, gen.cost) == (Generation.Status.ERROR, 400, 0)
    assert gen.ledger_entry is None


def test_fallback_model_serves_and_is_billed_at_its_own_prices(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory
) -> None:
    # given a primary model whose only route fails and a differently priced fallback
    make_model("test/primary", upstream_models=("fail-500",), prompt="1", completion="1")
    make_model("test/backup", upstream_models=("echo",), prompt="40", completion="90")
    account = make_account(START)
    # when
    body = chat_body("test/primary", models=["test/backup"])
    resp = api.post("/v1/chat/completions", body, account=account)
    # then the backup answered and its prices were charged: 10 x 40 + 4 x 90 = 760
    assert resp.status_code == 200, resp.content
    data = resp.json()
    expected = cost_of(prompt_tokens=10, completion_tokens=4, prompt="40", completion="90")
    assert expected == 760
    assert data["model"] == "test/backup"
    assert data["usage"]["cost"] == expected
    assert account.balance() == START - expected and account.held() == 0
    gen = Generation.objects.get(request_id=data["id"])
    assert gen.model == "test/backup" and gen.cost == expected
    assert Decimal(gen.prices["prompt"]) == 40
    assert [(a["model"], a["status"]) for a in gen.attempts] == [
        ("test/primary", 500),
        ("test/backup", 200),
    ]


def test_missing_upstream_usage_is_estimated_and_charged(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory
) -> None:
    # given an upstream that reports no usage, and prices above the minimum charge
    make_model("test/quiet", upstream_models=("no-usage",), prompt="1000", completion="2000")
    account = make_account(START)
    body = chat_body("test/quiet", text="one two three", max_tokens=20)
    # when
    resp = api.post("/v1/chat/completions", body, account=account)
    # then usage is estimated at ~4 bytes a token: "one two three" (13 bytes) -> 4 prompt
    # tokens, "echo: one two three" (19 bytes) -> 5 completion tokens
    assert resp.status_code == 200, resp.content
    expected = cost_of(prompt_tokens=4, completion_tokens=5, prompt="1000", completion="2000")
    assert expected == 14_000
    assert resp.json()["usage"]["cost"] == expected
    assert account.balance() == START - expected and account.held() == 0
    gen = Generation.objects.get(request_id=resp.json()["id"])
    assert gen.usage_estimated is True
    assert (gen.prompt_tokens, gen.completion_tokens, gen.cost) == (4, 5, expected)


def test_cached_prompt_tokens_are_priced_at_the_cache_read_price(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory
) -> None:
    # given a model with a cheap cache-read price, served by an upstream reporting 5 of its
    # 10 prompt tokens as cached and 3 reasoning tokens
    make_model(
        "test/cached", upstream_models=("cached",), prompt="100", completion="200", cache_read="10"
    )
    account = make_account(START)
    # when
    resp = api.post("/v1/chat/completions", chat_body("test/cached"), account=account)
    # then 5 x 100 + 5 x 10 + 4 x 200 = 1350 credits
    assert resp.status_code == 200, resp.content
    expected = cost_of(
        prompt_tokens=10,
        completion_tokens=4,
        cached_tokens=5,
        prompt="100",
        completion="200",
        cache_read="10",
    )
    assert expected == 1350
    usage = resp.json()["usage"]
    assert usage["cost"] == expected
    assert usage["prompt_tokens_details"]["cached_tokens"] == 5
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 3
    assert account.balance() == START - expected
    gen = Generation.objects.get(request_id=resp.json()["id"])
    assert (gen.cached_tokens, gen.reasoning_tokens, gen.cost) == (5, 3, expected)
    assert gen.usage_estimated is False


def test_max_tokens_absent_is_capped_to_what_the_balance_pays(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory, upstream: FakeUpstream
) -> None:
    # given an account that can pay for few completion tokens at 100 credits each
    make_model("test/pricey", prompt="1", completion="100", max_output_tokens=1_000)
    account = make_account(1_000)
    # when the client sends no max_tokens
    resp = api.post(
        "/v1/chat/completions", chat_body("test/pricey", text="a b c d e f g h"), account=account
    )
    # then the upstream is asked for no more than the balance can pay for, and the charge
    # never exceeds the balance
    assert resp.status_code == 200, resp.content
    sent = upstream.requests[-1]["body"]["max_tokens"]
    prompt_bound = len(b'{"messages":[{"role":"user","content":"a b c d e f g h"}]}')
    assert sent == (1_000 - prompt_bound * 1) // 100
    cost = resp.json()["usage"]["cost"]
    assert cost == cost_of(prompt_tokens=10, completion_tokens=sent, prompt="1", completion="100")
    assert account.balance() == 1_000 - cost >= 0
    assert account.held() == 0


def test_free_model_serves_an_account_with_no_credits(api, make_model, make_account, upstream):
    # given a free model and an account holding nothing
    make_model("test/free", prompt="0", completion="0", request="0", cache_read="0")
    account = make_account(0)
    # when the account calls it
    resp = api.post(
        "/v1/chat/completions",
        {"model": "test/free", "messages": [{"role": "user", "content": "hi"}]},
        account=account,
    )
    # then it is served for nothing, recorded with one zero ledger entry, and holds nothing
    assert resp.status_code == 200, resp.content
    assert resp.json()["usage"]["cost"] == 0
    gen = Generation.objects.get(request_id=resp.json()["id"])
    assert gen.cost == 0 and gen.ledger_entry.amount == 0
    assert account.balance() == 0 and account.held() == 0
    assert Hold.objects.count() == 0


def test_any_accept_header_is_answered(api, make_model, make_account, upstream):
    # given clients that send Accept headers the API does not "offer"
    make_model("test/echo")
    account = make_account(1_000_000)
    body = {"model": "test/echo", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    # when they call, then a stream is still SSE and a plain call still JSON
    streamed = api.post(
        "/v1/chat/completions",
        {**body, "stream": True},
        account=account,
        HTTP_ACCEPT="text/event-stream",
    )
    assert streamed.status_code == 200
    assert streamed["Content-Type"].startswith("text/event-stream")
    assert b"[DONE]" in b"".join(streamed.streaming_content)
    plain = api.post("/v1/chat/completions", body, account=account, HTTP_ACCEPT="text/html")
    assert plain.status_code == 200 and plain.json()["object"] == "chat.completion"


def test_a_full_admission_gate_answers_503_and_charges_nothing(
    api, make_model, make_account, upstream, settings
):
    # given a gate with no free slot
    from gateway.pipeline import gate

    settings.GATEWAY_ADMISSION_TIMEOUT_SECONDS = 0.05
    gate._gate = None
    settings.GATEWAY_DB_ADMISSIONS = 1
    gate._semaphore().acquire()
    try:
        make_model("test/echo")
        account = make_account(1_000_000)
        # when a request arrives
        resp = api.post(
            "/v1/chat/completions",
            {
                "model": "test/echo",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "hi"}],
            },
            account=account,
        )
        # then it is told to retry, and nothing is held or charged
        assert resp.status_code == 503 and resp.json()["error"]["code"] == "overloaded"
        assert resp["Retry-After"] == "1"
        assert account.balance() == 1_000_000 and account.held() == 0
    finally:
        gate._gate = None
