"""The chat completion body: OpenAI's fields plus the gateway's (provider, native finish
reason, cost), and cached / reasoning tokens priced as documented."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.models import Generation
from gateway.surfaces.chat import finish_reason_normalise
from tests.factories import Account, AccountFactory, ModelFactory
from tests.fakes.upstream import FakeUpstream
from tests.helpers import ApiClient, chat_body, cost_of
from tests.sse import ledger_verified, sse_chunks, stream_raw

START = 10_000_000
TEXT = "one two three four"  # the reply "echo: one two three four" is 5 words


@pytest.fixture
def account(make_model: ModelFactory, make_account: AccountFactory) -> Account:
    make_model("test/echo", prompt="20", completion="55")
    make_model(
        "test/cached", upstream_models=("cached",), prompt="20", completion="55", cache_read="5"
    )
    return make_account(START)


def test_body_has_the_openai_fields_and_the_gateway_ones(
    api: ApiClient, account: Account, upstream: FakeUpstream
) -> None:
    # when a completion is asked for
    resp = api.post("/v1/chat/completions", chat_body("test/echo", TEXT), account=account)
    # then the body is a chat.completion named by the gateway
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert set(body) == {
        "id",
        "object",
        "created",
        "model",
        "system_fingerprint",
        "choices",
        "usage",
        "provider",
    }
    assert body["id"] == resp["X-Request-Id"] and body["id"].startswith("gen-")
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int) and body["created"] > 1_700_000_000
    assert (body["model"], body["provider"]) == ("test/echo", "Fake")
    assert body["system_fingerprint"] == "fp_fake"
    choice = body["choices"][0]
    assert (choice["index"], choice["finish_reason"], choice["native_finish_reason"]) == (
        0,
        "stop",
        "stop",
    )
    assert choice["message"] == {"role": "assistant", "content": "echo: " + TEXT}
    expected = cost_of(prompt_tokens=10, completion_tokens=5, prompt="20", completion="55")
    assert body["usage"] == {
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
        "cost": expected,
    }
    assert account.balance() == START - expected == START - 475


def test_length_cut_reports_length_as_both_reasons(
    api: ApiClient, account: Account, upstream: FakeUpstream
) -> None:
    # when the reply is cut by max_tokens
    resp = api.post(
        "/v1/chat/completions", chat_body("test/echo", TEXT, max_tokens=2), account=account
    )
    # then
    choice = resp.json()["choices"][0]
    assert (choice["finish_reason"], choice["native_finish_reason"]) == ("length", "length")
    assert choice["message"]["content"] == "echo: one"
    assert account.balance() == START - (10 * 20 + 2 * 55)


@pytest.mark.parametrize(
    ("native", "normalised"),
    [
        ("stop", "stop"),
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("length", "length"),
        ("tool_use", "tool_calls"),
        ("function_call", "tool_calls"),
        ("content_filter", "content_filter"),
        ("refusal", "content_filter"),
        ("something_new", "stop"),
        (None, None),
    ],
)
def test_native_finish_reasons_are_normalised(native: str | None, normalised: str | None) -> None:
    assert finish_reason_normalise(native) == normalised


def test_cached_and_reasoning_tokens_are_reported_and_priced_in_the_breakdown(
    api: ApiClient, account: Account, upstream: FakeUpstream
) -> None:
    # given an upstream that reports 5 of 10 prompt tokens cached and 3 reasoning tokens
    # within its 5 completion tokens; prices 20 prompt, 5 cache read, 55 completion
    # when
    resp = api.post("/v1/chat/completions", chat_body("test/cached", TEXT), account=account)
    # then the usage shows both details
    usage = resp.json()["usage"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == 5
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 3
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (10, 5)
    # and the cost is 5 x 20 uncached + 5 x 5 cached + 5 x 55 completion (reasoning included)
    expected = cost_of(
        prompt_tokens=10,
        completion_tokens=5,
        cached_tokens=5,
        prompt="20",
        completion="55",
        cache_read="5",
    )
    assert usage["cost"] == expected == 100 + 25 + 275
    assert account.balance() == START - expected
    # and GET /v1/generation shows the same split
    record = api.get(f"/v1/generation?id={resp.json()['id']}", account=account).json()["data"]
    breakdown = {k: Decimal(v) for k, v in record["cost_breakdown"].items()}
    assert breakdown == {
        "prompt": Decimal(100),
        "cache_read": Decimal(25),
        "completion": Decimal(275),
        "request": Decimal(0),
        "image": Decimal(0),
    }
    assert (record["tokens_cached"], record["tokens_reasoning"], record["cost"]) == (5, 3, 400)
    gen = Generation.objects.get(request_id=resp.json()["id"])
    assert (gen.cached_tokens, gen.reasoning_tokens, gen.cost) == (5, 3, 400)
    ledger_verified(account)


def test_cached_usage_in_a_stream_is_priced_the_same(
    api: ApiClient, account: Account, upstream: FakeUpstream
) -> None:
    # when the same request is streamed
    _, raw = stream_raw(api, chat_body("test/cached", TEXT), account)
    # then the closing usage chunk carries the details and the same cost
    usage = sse_chunks(raw)[-1]["usage"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == 5
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 3
    assert usage["cost"] == 400
    assert account.balance() == START - 400
    ledger_verified(account)
