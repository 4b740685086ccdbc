"""The Anthropic surface's failures in Anthropic's own shape (so the SDK raises its own
types), token counting that charges nothing, and a stream cut mid-way billed like chat."""

from __future__ import annotations

import json
import time
from typing import Any

import anthropic
import pytest

from billing.models import Hold
from catalog.models import Route
from gateway.models import Generation
from tests.factories import Account, AccountFactory
from tests.helpers import assert_not_charged, rate_counters_clear
from tests.sse import estimate, estimated_completion
from tests.surfaces.targets import (
    COMPLETION,
    PROMPT,
    START,
    Target,
    assert_charged,
    claude_sdk,
    cost,
)

pytestmark = pytest.mark.usefixtures("transactional_db")

HELLO: Any = [{"role": "user", "content": "hello"}]
WORDS = "one two three four five six"


def assert_anthropic_error(exc: anthropic.APIStatusError, status: int, kind: str) -> None:
    """The response was ``{"type": "error", "error": {"type", "message", ...}}``."""
    assert exc.status_code == status
    body = exc.response.json()
    assert body["type"] == "error"
    assert set(body) == {"type", "error"}
    assert body["error"]["type"] == kind
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def test_bad_key_is_the_sdks_authentication_error(live_server: Any, claude: Target) -> None:
    # given a key the gateway never issued
    client = claude_sdk(live_server, "sk-not-a-real-key")
    # when / then
    with pytest.raises(anthropic.AuthenticationError) as caught:
        client.messages.create(model=claude.model, max_tokens=8, messages=HELLO)
    assert_anthropic_error(caught.value, 401, "authentication_error")
    assert claude.upstream.requests == []


def test_model_outside_the_allowlist_is_permission_denied(
    live_server: Any, make_account: AccountFactory, claude: Target, gpt: Target
) -> None:
    # given a key that may use only the GPT model
    account = make_account(START, allowed_models=[gpt.model])
    # when it asks for Claude
    with pytest.raises(anthropic.PermissionDeniedError) as caught:
        claude_sdk(live_server, account.secret).messages.create(
            model=claude.model, max_tokens=8, messages=HELLO
        )
    # then 403 permission_error, nothing charged, nothing sent upstream
    assert_anthropic_error(caught.value, 403, "permission_error")
    assert claude.model in caught.value.response.json()["error"]["message"]
    assert_not_charged(account, START)
    assert claude.upstream.requests == []


def test_second_call_over_a_limit_of_one_a_minute_is_rate_limited(
    live_server: Any, make_account: AccountFactory, claude: Target
) -> None:
    # given a key limited to one request a minute
    account = make_account(START, rate_limit_rpm=1)
    rate_counters_clear(account.key.pk)
    client = claude_sdk(live_server, account.secret)
    first = client.messages.create(model=claude.model, max_tokens=8, messages=HELLO)
    # when it calls again
    with pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(model=claude.model, max_tokens=8, messages=HELLO)
    # then 429 rate_limit_error with Retry-After; only the first call was charged
    assert_anthropic_error(caught.value, 429, "rate_limit_error")
    assert int(caught.value.response.headers["retry-after"]) >= 1
    assert len(claude.upstream.requests) == 1
    assert_charged(account, first.id, cost(10, 2), "messages")
    rate_counters_clear(account.key.pk)


def test_unknown_model_is_the_sdks_not_found_error(
    live_server: Any, account: Account, claude: Target
) -> None:
    # given a model id the registry does not hold
    with pytest.raises(anthropic.NotFoundError) as caught:
        claude_sdk(live_server, account.secret).messages.create(
            model="nobody/nothing", max_tokens=8, messages=HELLO
        )
    # then 404 not_found_error, and nothing is charged
    assert_anthropic_error(caught.value, 404, "not_found_error")
    assert_not_charged(account, START)


def test_account_too_poor_is_402_billing_error(
    live_server: Any, make_account: AccountFactory, claude: Target
) -> None:
    # given 50 credits, less than the minimum charge of one call
    account = make_account(50)
    # when
    with pytest.raises(anthropic.APIStatusError) as caught:
        claude_sdk(live_server, account.secret).messages.create(
            model=claude.model, max_tokens=8, messages=HELLO
        )
    # then 402 in Anthropic's shape, and nothing was charged or held
    assert_anthropic_error(caught.value, 402, "billing_error")
    assert "insufficient" in caught.value.response.json()["error"]["message"].lower()
    assert_not_charged(account, 50)
    assert claude.upstream.requests == []


def test_invalid_request_is_the_sdks_bad_request_error(
    live_server: Any, account: Account, claude: Target
) -> None:
    # given a request with a temperature Anthropic does not accept
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude_sdk(live_server, account.secret).messages.create(
            model=claude.model, max_tokens=8, messages=HELLO, extra_body={"temperature": 1.5}
        )
    # then 400 invalid_request_error naming the parameter, and nothing is charged
    assert_anthropic_error(caught.value, 400, "invalid_request_error")
    assert "temperature" in caught.value.response.json()["error"]["message"]
    assert_not_charged(account, START)


def test_count_tokens_counts_and_charges_nothing(
    live_server: Any, account: Account, target: Target
) -> None:
    # given a conversation with a system prompt and a tool
    client = claude_sdk(live_server, account.secret)
    tool: Any = {"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}
    # when it counts the tokens
    counted = client.messages.count_tokens(
        model=target.model, system="be brief", messages=HELLO, tools=[tool]
    )
    # then a positive number, no upstream call, no charge, no record
    assert counted.input_tokens > 0
    assert target.upstream.requests == []
    assert_not_charged(account, START)
    assert Generation.objects.count() == 0


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("mode", ["fail-529", "fail-500", "fail-429", "malformed"])
def test_failing_anthropic_route_fails_over_to_the_next_one(
    live_server: Any, account: Account, claude: Target, mode: str, stream: bool
) -> None:
    # given a preferred Anthropic route that fails before answering, then a working one
    Route.objects.filter(model__public_id=claude.model).update(upstream_model=mode)
    Route.objects.create(
        model=Route.objects.get().model,
        provider=Route.objects.get().provider,
        upstream_model="claude",
        priority=1,
    )
    client = claude_sdk(live_server, account.secret)
    # when
    if stream:
        with client.messages.stream(model=claude.model, max_tokens=8, messages=HELLO) as s:
            message = s.get_final_message()
    else:
        message = client.messages.create(model=claude.model, max_tokens=8, messages=HELLO)
    # then the second route answered, and only it was charged
    assert message.content[0].text == "claude: hello"
    assert [r["body"]["model"] for r in claude.upstream.requests] == [mode, "claude"]
    assert_charged(account, message.id, cost(10, 2), "messages")


def test_every_anthropic_route_failing_is_a_502_api_error(
    live_server: Any, account: Account, claude: Target
) -> None:
    # given an Anthropic route that always answers 500
    Route.objects.filter(model__public_id=claude.model).update(upstream_model="fail-500")
    # when / then the SDK raises its server error type, in Anthropic's shape
    with pytest.raises(anthropic.InternalServerError) as caught:
        claude_sdk(live_server, account.secret).messages.create(
            model=claude.model, max_tokens=8, messages=HELLO
        )
    assert_anthropic_error(caught.value, 502, "api_error")
    assert_not_charged(account, START)


def sse_events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event name, JSON data) of each event of a raw stream."""
    out = []
    for block in raw.decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            out.append((lines["event"], json.loads(lines["data"])))
    return out


@pytest.mark.parametrize("mode", ["cut-3", "errevent-3"])
def test_mid_stream_failure_ends_with_an_error_event_and_bills_what_was_delivered(
    live_server: Any, account: Account, claude: Target, mode: str
) -> None:
    # given an Anthropic route that drops (or sends an error event) after three text deltas
    Route.objects.filter(model__public_id=claude.model).update(upstream_model=mode)
    client = claude_sdk(live_server, account.secret)
    # when the SDK reads the whole stream
    with client.messages.with_streaming_response.create(
        model=claude.model,
        max_tokens=64,
        messages=[{"role": "user", "content": WORDS}],
        stream=True,
    ) as resp:
        events = sse_events(resp.read())
    # then the client got three pieces, then one error event, which ends the stream
    kinds = [kind for kind, _ in events]
    delivered = [d["delta"]["text"] for k, d in events if k == "content_block_delta"]
    assert delivered == ["claude:", " one", " two"]
    assert kinds.count("error") == 1
    assert kinds[-1] == "error" and kinds.count("error") == 1
    assert "message_delta" not in kinds and "message_stop" not in kinds
    assert events[kinds.index("error")][1]["error"]["type"] == "api_error"
    # and the charge is the estimate of what was delivered: prompt ceil(27 bytes / 4) = 7,
    # completion max(3 deltas, ceil(15 bytes / 4)) = 4
    prompt, completion = estimate(WORDS), estimated_completion(delivered)
    assert (prompt, completion) == (7, 4)
    expected = cost(prompt, completion)
    assert expected == 7 * int(PROMPT) + 4 * int(COMPLETION) == 360
    request_id = events[0][1]["message"]["id"]
    generation = assert_charged(account, request_id, expected, "messages", status="error")
    assert (generation.usage_estimated, generation.finish_reason) == (True, "error")
    assert Hold.objects.count() == 0


def test_sdk_raises_its_error_type_on_the_error_event(
    live_server: Any, account: Account, claude: Target
) -> None:
    # given a route that drops after one delta
    Route.objects.filter(model__public_id=claude.model).update(upstream_model="cut-1")
    stream = claude_sdk(live_server, account.secret).messages.create(
        model=claude.model, max_tokens=64, messages=HELLO, stream=True
    )
    # when the SDK iterates the events, then it raises its own error at the error event
    received: list[Any] = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        received.extend(stream)
    assert [e.type for e in received if e.type == "content_block_delta"] == ["content_block_delta"]
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["type"] == "api_error"
    # and the request is still settled once, for the one delta delivered
    generation = generation_wait()
    assert (generation.status, generation.usage_estimated) == ("error", True)
    assert account.balance() == START - generation.cost
    assert Hold.objects.count() == 0


def generation_wait(timeout: float = 5.0) -> Generation:
    """The request's record, once the server has settled it (the SDK stops reading at the
    error event, before the gateway's closing events)."""
    deadline = time.monotonic() + timeout
    while not Generation.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return Generation.objects.get()
