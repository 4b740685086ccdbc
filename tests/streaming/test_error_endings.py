"""A stream that fails mid-way ends with its surface's error event, as the real APIs end
one: nothing after it (no closing usage, no ``[DONE]``, no ``message_stop``, no second
terminal event), and the delivered part is still billed once."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest

from catalog.models import Provider
from gateway.models import Generation
from tests.factories import Account, AccountFactory, ModelFactory
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.upstream import FakeUpstream
from tests.helpers import ApiClient
from tests.sse import sse_payloads

START = 10_000_000
WORDS = "one two three four five six"
MESSAGES = [{"role": "user", "content": WORDS}]


@pytest.fixture
def account(make_account: AccountFactory) -> Account:
    return make_account(START)


@pytest.fixture
def failing_gpt(make_model: ModelFactory, upstream: FakeUpstream) -> str:
    """A model whose OpenAI-dialect route sends an error event after three chunks."""
    make_model("test/gpt-fails", upstream_models=("errevent-3",))
    return "test/gpt-fails"


@pytest.fixture
def failing_claude(
    make_model: ModelFactory, anthropic_provider: Provider, anthropic_upstream: FakeAnthropic
) -> str:
    """A model whose Anthropic route sends an ``error`` event after three text deltas."""
    make_model(
        "test/claude-fails", upstream_models=("errevent-3",), route_provider=anthropic_provider
    )
    return "test/claude-fails"


def events_of(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of each named SSE event, in order."""
    out = []
    for block in raw.decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            out.append((lines["event"], json.loads(lines["data"])))
    return out


def stream(api: ApiClient, path: str, body: dict[str, Any], account: Account) -> bytes:
    resp = api.post(path, {**body, "stream": True}, account=account)
    assert resp.status_code == 200 and resp.streaming
    return b"".join(resp.streaming_content)


def assert_billed_once_as_error(account: Account) -> Generation:
    generation = Generation.objects.get()
    assert (generation.status, generation.finish_reason) == ("error", "error")
    assert generation.cost > 0
    assert account.balance() == START - generation.cost
    assert account.held() == 0
    return generation


@pytest.mark.parametrize("model", ["failing_claude", "failing_gpt"])
def test_messages_stream_ends_with_the_error_event(
    api: ApiClient, account: Account, model: str, request: pytest.FixtureRequest
) -> None:
    # given a route (native Anthropic, or translated from OpenAI) that fails mid-stream
    public_id = request.getfixturevalue(model)
    # when the Anthropic surface streams it
    raw = stream(
        api, "/v1/messages", {"model": public_id, "max_tokens": 64, "messages": MESSAGES}, account
    )
    # then the error event is the last event, after the three deltas
    events = events_of(raw)
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "error" and kinds.count("error") == 1
    assert "message_delta" not in kinds and "message_stop" not in kinds
    assert kinds.count("content_block_delta") == 3
    assert events[-1][1]["type"] == "error"
    assert events[-1][1]["error"]["type"] == "api_error"
    # and the delivered part is billed once
    assert_billed_once_as_error(account)


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions"])
def test_openai_style_stream_ends_with_the_error_chunk(
    api: ApiClient, account: Account, failing_gpt: str, path: str
) -> None:
    # given a route that fails after three chunks
    body: dict[str, Any] = {"model": failing_gpt, "max_tokens": 64}
    if path.endswith("/completions") and "chat" not in path:
        body["prompt"] = WORDS
    else:
        body["messages"] = MESSAGES
    # when it is streamed
    raw = stream(api, path, body, account)
    # then the last data line is the error, and neither usage nor [DONE] follows it
    payloads = sse_payloads(raw)
    assert "[DONE]" not in payloads
    last = json.loads(payloads[-1])
    assert last["error"]["code"] == "provider_error"
    assert sum("error" in json.loads(p) for p in payloads) == 1
    assert not any("usage" in json.loads(p) for p in payloads)
    assert_billed_once_as_error(account)


def test_responses_stream_ends_with_response_failed(
    api: ApiClient, account: Account, failing_gpt: str
) -> None:
    # given a route that fails after three chunks
    # when the Responses surface streams it
    raw = stream(api, "/v1/responses", {"model": failing_gpt, "input": WORDS}, account)
    # then response.failed is the one terminal event, and the last
    kinds = [kind for kind, _ in events_of(raw)]
    terminal = {"response.completed", "response.incomplete", "response.failed"}
    assert [k for k in kinds if k in terminal] == ["response.failed"]
    assert kinds[-1] == "response.failed"
    failed = events_of(raw)[-1][1]["response"]
    assert (failed["status"], failed["error"]["code"]) == ("failed", "provider_error")
    assert_billed_once_as_error(account)


@pytest.mark.usefixtures("transactional_db")
def test_anthropic_sdk_raises_at_the_error_event_and_sees_no_message_stop(
    live_server: Any, account: Account, failing_claude: str
) -> None:
    # given the official SDK pointed at the gateway, and a route that fails mid-stream
    client = anthropic.Anthropic(base_url=live_server.url, api_key=account.secret, max_retries=0)
    received: list[Any] = []
    # when it iterates the stream, then it raises its own error type at the error event
    with pytest.raises(anthropic.APIStatusError) as caught:
        for event in client.messages.create(
            model=failing_claude, max_tokens=64, messages=MESSAGES, stream=True
        ):
            received.append(event)
    assert isinstance(caught.value, anthropic.APIError)
    assert caught.value.body["error"]["type"] == "api_error"
    kinds = [e.type for e in received]
    assert kinds.count("content_block_delta") == 3
    assert "message_stop" not in kinds and "message_delta" not in kinds


@pytest.mark.usefixtures("transactional_db")
def test_openai_sdk_raises_at_the_error_chunk(
    live_server: Any, account: Account, failing_gpt: str
) -> None:
    # given the official openai SDK and a route that fails after three chunks
    client = openai.OpenAI(base_url=live_server.url + "/v1", api_key=account.secret, max_retries=0)
    pieces: list[str] = []
    # when it iterates the stream, then it raises at the error chunk
    with pytest.raises(openai.APIError):
        for chunk in client.chat.completions.create(
            model=failing_gpt, messages=MESSAGES, max_tokens=64, stream=True
        ):
            pieces.extend(c.delta.content or "" for c in chunk.choices)
    assert "".join(pieces) == "echo: one two"
