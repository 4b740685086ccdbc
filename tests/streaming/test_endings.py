"""Every way a stream can end, and what each one costs: the upstream's usage when it came,
else the documented estimate of what was relayed; never a hold left behind."""

from __future__ import annotations

import pytest

from billing.models import LedgerEntry
from gateway.models import Generation
from tests.factories import Account, AccountFactory, ModelFactory
from tests.fakes.upstream import FakeUpstream
from tests.helpers import ApiClient, assert_error, assert_not_charged, chat_body, cost_of
from tests.sse import (
    content_chunks,
    estimate,
    estimated_completion,
    ledger_verified,
    sse_chunks,
    sse_payloads,
    stream_raw,
)

START = 10_000_000
PROMPT, COMPLETION = "20", "55"
WORDS = "one two three four five six"


@pytest.fixture
def account(make_account: AccountFactory) -> Account:
    return make_account(START)


def model_with(make_model: ModelFactory, *routes: str) -> None:
    make_model("test/stream", upstream_models=routes, prompt=PROMPT, completion=COMPLETION)


def the_generation(resp: object) -> Generation:
    return Generation.objects.get(request_id=resp["X-Request-Id"])  # type: ignore[index]


def test_normal_end_charges_the_upstream_usage_exactly(
    api: ApiClient, make_model: ModelFactory, account: Account, upstream: FakeUpstream
) -> None:
    # given a working route
    model_with(make_model, "echo")
    # when a stream runs to its end
    resp, raw = stream_raw(api, chat_body("test/stream", WORDS), account)
    # then the client got every word, a usage chunk with the cost, and [DONE]
    assert resp.status_code == 200
    assert resp["Content-Type"] == "text/event-stream"
    chunks = sse_chunks(raw)
    assert "".join(content_chunks(chunks)) == "echo: " + WORDS
    assert sse_payloads(raw)[-1] == "[DONE]"
    expected = cost_of(prompt_tokens=10, completion_tokens=7, prompt=PROMPT, completion=COMPLETION)
    assert expected == 10 * 20 + 7 * 55 == 585
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["cost"] == expected
    assert (chunks[-1]["usage"]["prompt_tokens"], chunks[-1]["usage"]["completion_tokens"]) == (
        10,
        7,
    )
    # and exactly that was charged, once
    assert account.balance() == START - expected
    gen = the_generation(resp)
    assert (gen.status, gen.cost, gen.usage_estimated) == ("success", expected, False)
    assert (gen.finish_reason, gen.is_streamed) == ("stop", True)
    assert gen.ledger_entry.amount == -expected
    ledger_verified(account)


def test_error_before_the_first_byte_fails_over_to_the_next_route(
    api: ApiClient, make_model: ModelFactory, account: Account, upstream: FakeUpstream
) -> None:
    # given a preferred route whose streams answer 500 before any byte
    model_with(make_model, "stream-500", "echo")
    # when
    resp, raw = stream_raw(api, chat_body("test/stream", WORDS), account)
    # then the second route served the whole stream, charged once at its usage
    assert resp.status_code == 200
    assert "".join(content_chunks(sse_chunks(raw))) == "echo: " + WORDS
    assert [r["body"]["model"] for r in upstream.requests] == ["stream-500", "echo"]
    assert account.balance() == START - 585
    assert LedgerEntry.objects.filter(kind="usage").count() == 1
    gen = the_generation(resp)
    assert [a["status"] for a in gen.attempts] == [500, 200]
    assert (gen.status, gen.upstream_model, gen.cost) == ("success", "echo", 585)
    ledger_verified(account)


def test_every_route_failing_before_the_first_byte_is_a_json_502(
    api: ApiClient, make_model: ModelFactory, account: Account, upstream: FakeUpstream
) -> None:
    # given two routes that both fail before streaming
    model_with(make_model, "stream-500", "fail-503")
    # when
    resp, _ = stream_raw(api, chat_body("test/stream", WORDS), account)
    # then an ordinary JSON error, nothing charged, no hold
    assert not resp.streaming
    assert_error(resp, 502, "provider_error")
    assert len(upstream.requests) == 2
    assert_not_charged(account, START)
    gen = the_generation(resp)
    assert (gen.status, gen.http_status, gen.cost, gen.ledger_entry) == ("error", 502, 0, None)
    ledger_verified(account)


@pytest.mark.parametrize("mode", ["cut-3", "errevent-3"])
def test_mid_stream_failure_closes_with_an_error_and_charges_what_was_delivered(
    api: ApiClient, make_model: ModelFactory, account: Account, upstream: FakeUpstream, mode: str
) -> None:
    # given an upstream that drops (or sends an error event) after three content chunks
    model_with(make_model, mode)
    # when
    resp, raw = stream_raw(api, chat_body("test/stream", WORDS), account)
    # then the client got those three pieces, then a closing error chunk
    assert resp.status_code == 200
    chunks = sse_chunks(raw)
    delivered = content_chunks(chunks)
    assert delivered == ["echo:", " one", " two"]
    errors = [c for c in chunks if "error" in c]
    assert len(errors) == 1
    assert errors[0]["error"]["code"] == "provider_error"
    assert errors[0]["choices"][0]["finish_reason"] == "error"
    assert chunks[-1] is errors[0]  # the error ends the stream, as OpenAI ends one
    # and the charge is the estimate of what was delivered:
    # prompt ceil(27 bytes / 4) = 7, completion max(3 chunks, ceil(13 bytes / 4)) = 4
    prompt, completion = estimate(WORDS), estimated_completion(delivered)
    assert (prompt, completion) == (7, 4)
    expected = cost_of(
        prompt_tokens=prompt, completion_tokens=completion, prompt=PROMPT, completion=COMPLETION
    )
    assert expected == 7 * 20 + 4 * 55 == 360
    assert "[DONE]" not in sse_payloads(raw)
    assert not any("usage" in c for c in chunks)
    assert account.balance() == START - expected
    gen = the_generation(resp)
    assert (gen.status, gen.usage_estimated, gen.cost) == ("error", True, expected)
    assert (gen.prompt_tokens, gen.completion_tokens, gen.finish_reason) == (7, 4, "error")
    assert gen.error_code == "provider_error"
    ledger_verified(account)


def test_drop_before_any_content_charges_nothing(
    api: ApiClient, make_model: ModelFactory, account: Account, upstream: FakeUpstream
) -> None:
    # given an upstream that sends its role chunk and then drops the connection
    model_with(make_model, "cut-0")
    # when
    resp, raw = stream_raw(api, chat_body("test/stream", WORDS), account)
    # then the stream closes with an error and no text, and nothing is charged
    chunks = sse_chunks(raw)
    assert content_chunks(chunks) == []
    assert [c["choices"][0]["finish_reason"] for c in chunks if "error" in c] == ["error"]
    assert "error" in chunks[-1] and "[DONE]" not in sse_payloads(raw)
    assert_not_charged(account, START)
    gen = the_generation(resp)
    assert (gen.status, gen.cost, gen.ledger_entry) == ("error", 0, None)
    ledger_verified(account)


def test_stream_without_upstream_usage_is_charged_from_the_relayed_text(
    api: ApiClient, make_model: ModelFactory, account: Account, upstream: FakeUpstream
) -> None:
    # given an upstream that never reports usage
    model_with(make_model, "no-usage")
    # when
    resp, raw = stream_raw(api, chat_body("test/stream", WORDS), account)
    # then every word arrived and the estimate of the relayed text was charged:
    # prompt ceil(27 / 4) = 7; completion max(7 chunks, ceil(33 bytes / 4) = 9) = 9
    chunks = sse_chunks(raw)
    delivered = content_chunks(chunks)
    assert "".join(delivered) == "echo: " + WORDS
    assert (estimate(WORDS), estimated_completion(delivered)) == (7, 9)
    expected = cost_of(prompt_tokens=7, completion_tokens=9, prompt=PROMPT, completion=COMPLETION)
    assert chunks[-1]["usage"]["cost"] == expected == 7 * 20 + 9 * 55
    assert account.balance() == START - expected
    gen = the_generation(resp)
    assert (gen.status, gen.usage_estimated, gen.cost) == ("success", True, expected)
    assert (gen.prompt_tokens, gen.completion_tokens) == (7, 9)
    ledger_verified(account)
