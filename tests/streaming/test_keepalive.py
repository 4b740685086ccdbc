"""Keep-alive comments while the upstream is silent, also before its first chunk."""

from __future__ import annotations

from django.test import override_settings

from gateway.models import Generation
from tests.factories import AccountFactory, ModelFactory
from tests.fakes.upstream import FakeUpstream
from tests.helpers import ApiClient, assert_not_charged, chat_body, cost_of
from tests.sse import KEEPALIVE, content_chunks, ledger_verified, sse_chunks, stream_raw

START = 10_000_000


@override_settings(GATEWAY_STREAM_KEEPALIVE_SECONDS=0.2)
def test_silent_upstream_gets_keep_alive_comments_before_the_first_chunk(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory, upstream: FakeUpstream
) -> None:
    # given an upstream that is silent for a second before its first chunk
    make_model("test/slow", upstream_models=("stall-1000",), prompt="20", completion="55")
    account = make_account(START)
    # when a stream is asked for
    resp, raw = stream_raw(api, chat_body("test/slow", "wake up"), account)
    # then comment lines kept the connection alive before the first data chunk
    assert resp.status_code == 200
    head, _, _ = raw.partition(b"data: ")
    lines = [line for line in head.split(b"\n") if line]
    assert len(lines) >= 3, raw[:200]
    assert set(lines) == {KEEPALIVE}
    # and the stream then ran normally and was charged at the upstream's usage
    chunks = sse_chunks(raw)
    assert "".join(content_chunks(chunks)) == "echo: wake up"
    expected = cost_of(prompt_tokens=10, completion_tokens=3, prompt="20", completion="55")
    assert chunks[-1]["usage"]["cost"] == expected == 365
    assert account.balance() == START - expected
    gen = Generation.objects.get(request_id=resp["X-Request-Id"])
    assert (gen.status, gen.cost, gen.usage_estimated) == ("success", expected, False)
    assert gen.ttft_ms is not None and gen.ttft_ms >= 900
    ledger_verified(account)


@override_settings(GATEWAY_STREAM_KEEPALIVE_SECONDS=5.0)
def test_no_keep_alive_when_the_upstream_answers_within_the_interval(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory, upstream: FakeUpstream
) -> None:
    # given an upstream slower than nothing but faster than the keep-alive interval
    make_model("test/slow", upstream_models=("stall-300",))
    account = make_account(START)
    # when
    _, raw = stream_raw(api, chat_body("test/slow", "wake up"), account)
    # then the body is data only
    assert KEEPALIVE not in raw
    assert raw.startswith(b"data: ")
    assert "".join(content_chunks(sse_chunks(raw))) == "echo: wake up"
    ledger_verified(account)


@override_settings(GATEWAY_STREAM_KEEPALIVE_SECONDS=0.2, GATEWAY_UPSTREAM_READ_TIMEOUT=0.6)
def test_upstream_failing_after_keep_alives_began_closes_with_an_error_and_charges_nothing(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory, upstream: FakeUpstream
) -> None:
    # given an upstream that never answers (the gateway gives up after 0.6 s)
    make_model("test/hung", upstream_models=("timeout",), prompt="20", completion="55")
    account = make_account(START)
    # when a stream is asked for
    resp, raw = stream_raw(api, chat_body("test/hung", "anyone there"), account)
    # then the client was kept alive, then told of the failure in the stream
    assert resp.status_code == 200
    assert raw.startswith(KEEPALIVE)
    chunks = sse_chunks(raw)
    assert content_chunks(chunks) == []
    assert [c["error"]["code"] for c in chunks if "error" in c] == ["provider_error"]
    assert "error" in chunks[-1]  # the error ends the stream
    # and nothing was charged, nothing is held
    assert_not_charged(account, START)
    gen = Generation.objects.get(request_id=resp["X-Request-Id"])
    assert (gen.status, gen.cost, gen.ledger_entry) == ("error", 0, None)
    ledger_verified(account)
