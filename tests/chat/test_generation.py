"""``GET /v1/generation?id=gen-...``: the caller's own record of one request."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.factories import Account, AccountFactory, ModelFactory
from tests.fakes.upstream import FakeUpstream
from tests.helpers import ApiClient, assert_error, chat_body, cost_of
from tests.sse import sse_chunks, stream_raw

START = 10_000_000
TEXT = "one two three four five six"
# no cache-read price on the model: cached tokens are read at the prompt price
PRICES_TEXT = {"prompt": "20", "completion": "55", "cache_read": "20", "request": "0", "image": "0"}


@pytest.fixture
def account(make_model: ModelFactory, make_account: AccountFactory) -> Account:
    make_model("test/stream", upstream_models=("stream-500", "echo"), prompt="20", completion="55")
    make_model("test/cut", upstream_models=("cut-3",), prompt="20", completion="55")
    return make_account(START)


def test_streamed_request_record_after_a_failover(
    api: ApiClient, account: Account, upstream: FakeUpstream
) -> None:
    # given a stream that failed over from its first route
    _, raw = stream_raw(api, chat_body("test/stream", TEXT), account)
    request_id = sse_chunks(raw)[0]["id"]
    # when its record is asked for
    got = api.get(f"/v1/generation?id={request_id}", account=account)
    # then it tells what served it, what it cost and how it went
    assert got.status_code == 200, got.content
    data = got.json()["data"]
    expected = cost_of(prompt_tokens=10, completion_tokens=7, prompt="20", completion="55")
    assert expected == 585
    assert {
        k: data[k]
        for k in (
            "id",
            "model",
            "provider",
            "upstream_model",
            "surface",
            "status",
            "http_status",
            "error_code",
            "finish_reason",
            "streamed",
            "cancelled",
            "usage_estimated",
            "tokens_prompt",
            "tokens_completion",
            "tokens_cached",
            "tokens_reasoning",
            "cost",
        )
    } == {
        "id": request_id,
        "model": "test/stream",
        "provider": "Fake",
        "upstream_model": "echo",
        "surface": "chat.completions",
        "status": "success",
        "http_status": 200,
        "error_code": None,
        "finish_reason": "stop",
        "streamed": True,
        "cancelled": False,
        "usage_estimated": False,
        "tokens_prompt": 10,
        "tokens_completion": 7,
        "tokens_cached": 0,
        "tokens_reasoning": 0,
        "cost": expected,
    }
    assert {k: Decimal(v) for k, v in data["cost_breakdown"].items()} == {
        "prompt": Decimal(200),
        "cache_read": Decimal(0),
        "completion": Decimal(385),
        "request": Decimal(0),
        "image": Decimal(0),
    }
    # amounts and prices as plain decimal text, never "0E-9" or "20.000000000"
    assert data["cost_breakdown"] == {
        "prompt": "200",
        "cache_read": "0",
        "completion": "385",
        "request": "0",
        "image": "0",
    }
    assert data["prices"] == PRICES_TEXT
    assert isinstance(data["latency_ms"], int) and data["latency_ms"] >= 0
    assert isinstance(data["time_to_first_token_ms"], int)
    assert 0 <= data["time_to_first_token_ms"] <= data["latency_ms"]
    assert [(a["provider"], a["status"]) for a in data["attempts"]] == [
        ("fake", 500),
        ("fake", 200),
    ]
    assert data["api_key"] == account.key.display
    assert account.balance() == START - expected


def test_record_of_a_stream_cut_mid_way(
    api: ApiClient, account: Account, upstream: FakeUpstream
) -> None:
    # given a stream whose upstream dropped after three chunks
    resp, _ = stream_raw(api, chat_body("test/cut", TEXT), account)
    # when
    data = api.get(f"/v1/generation?id={resp['X-Request-Id']}", account=account).json()["data"]
    # then it is an error, estimated, charged for what was delivered (7 + 4 tokens)
    assert (data["status"], data["finish_reason"], data["error_code"]) == (
        "error",
        "error",
        "provider_error",
    )
    assert (data["usage_estimated"], data["streamed"], data["cancelled"]) == (True, True, False)
    assert (data["tokens_prompt"], data["tokens_completion"], data["cost"]) == (7, 4, 360)


def test_non_streamed_record_has_no_first_token_time(
    api: ApiClient, make_model: ModelFactory, account: Account, upstream: FakeUpstream
) -> None:
    make_model("test/echo", prompt="20", completion="55")
    resp = api.post("/v1/chat/completions", chat_body("test/echo"), account=account)
    data = api.get(f"/v1/generation?id={resp.json()['id']}", account=account).json()["data"]
    assert (data["streamed"], data["time_to_first_token_ms"]) == (False, None)
    assert (data["cost"], data["tokens_prompt"], data["tokens_completion"]) == (420, 10, 4)


def test_another_users_record_is_not_found(
    api: ApiClient, make_account: AccountFactory, account: Account, upstream: FakeUpstream
) -> None:
    # given a request of one user
    resp, _ = stream_raw(api, chat_body("test/stream", TEXT), account)
    other = make_account(START)
    # when another user asks for it
    got = api.get(f"/v1/generation?id={resp['X-Request-Id']}", account=other)
    # then it does not exist for them
    assert_error(got, 404, "generation_not_found", "id")
    assert other.balance() == START


def test_unknown_id_is_not_found(api: ApiClient, account: Account) -> None:
    got = api.get("/v1/generation?id=gen-000000000000000000000000", account=account)
    assert_error(got, 404, "generation_not_found", "id")


@pytest.mark.parametrize("query", ["", "?id="])
def test_missing_id_is_400(api: ApiClient, account: Account, query: str) -> None:
    got = api.get(f"/v1/generation{query}", account=account)
    assert_error(got, 400, "invalid_parameter", "id")


def test_generation_needs_a_key(api: ApiClient) -> None:
    got = api.get("/v1/generation?id=gen-000000000000000000000000")
    assert_error(got, 401, "invalid_api_key")
