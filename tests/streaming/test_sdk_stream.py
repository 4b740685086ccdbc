"""The official ``openai`` SDK streaming through a live gateway: what a developer's code
sees chunk by chunk, and what the account is charged."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.models import Generation
from tests.factories import Account, AccountFactory, ModelFactory
from tests.fakes.streams import TOOL_ARGUMENTS, TOOL_CALL_ID
from tests.fakes.upstream import FakeUpstream
from tests.helpers import cost_of
from tests.sse import ledger_verified, sdk

pytestmark = pytest.mark.usefixtures("transactional_db")

START = 10_000_000
PROMPT, COMPLETION = "20", "55"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture
def account(make_model: ModelFactory, make_account: AccountFactory) -> Account:
    make_model("test/echo", prompt=PROMPT, completion=COMPLETION)
    make_model("test/tools", upstream_models=("toolstream",), prompt=PROMPT, completion=COMPLETION)
    return make_account(START)


def test_sdk_stream_gets_every_chunk_tagged_and_a_final_usage_chunk_with_the_cost(
    live_server: Any, account: Account, upstream: FakeUpstream
) -> None:
    # given the SDK, asking for a stream and even declining the usage chunk
    client = sdk(live_server, account.secret)
    # when it streams a completion of two messages
    stream = client.chat.completions.create(
        model="test/echo",
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "alpha beta gamma"},
        ],
        stream=True,
        stream_options={"include_usage": False},
        max_tokens=50,
    )
    chunks = list(stream)
    # then the text arrives whole, every chunk names the request, the public model and
    # the provider
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: alpha beta gamma"
    ids = {c.id for c in chunks}
    assert len(ids) == 1 and next(iter(ids)).startswith("gen-")
    assert {c.model for c in chunks} == {"test/echo"}
    assert {(c.model_extra or {}).get("provider") for c in chunks} == {"Fake"}
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    # and the last chunk carries the usage with its cost: 2 x 10 prompt and 4 completion
    # tokens at 20 and 55 credits a token
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (20, 4)
    expected = cost_of(prompt_tokens=20, completion_tokens=4, prompt=PROMPT, completion=COMPLETION)
    assert expected == 20 * 20 + 4 * 55 == 620
    assert (last.usage.model_extra or {})["cost"] == expected
    # and the upstream was made to report usage whatever the client asked
    sent = upstream.requests[-1]["body"]
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["model"] == "echo"
    # and the balance dropped by exactly that cost
    assert account.balance() == START - expected
    gen = Generation.objects.get(request_id=last.id)
    assert (gen.status, gen.cost, gen.is_streamed, gen.usage_estimated) == (
        "success",
        expected,
        True,
        False,
    )
    assert gen.ttft_ms is not None
    ledger_verified(account)


def test_streamed_tool_call_deltas_reassemble_in_the_sdk(
    live_server: Any, account: Account, upstream: FakeUpstream
) -> None:
    # given an upstream that streams a tool call in pieces
    client = sdk(live_server, account.secret)
    messages = [{"role": "user", "content": "weather in Paris?"}]
    # when the SDK's stream helper accumulates it
    with client.chat.completions.stream(
        model="test/tools", messages=messages, tools=[WEATHER_TOOL]
    ) as stream:
        final = stream.get_final_completion()
    # then one whole tool call came out, with the arguments joined
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert len(calls) == 1
    assert (calls[0].id, calls[0].type) == (TOOL_CALL_ID, "function")
    assert (calls[0].function.name, calls[0].function.arguments) == ("get_weather", TOOL_ARGUMENTS)
    # and the tools went upstream verbatim, and the upstream's usage was charged:
    # 10 prompt tokens, 2 completion tokens (the words of the arguments)
    sent = upstream.requests[-1]["body"]
    assert sent["tools"] == [WEATHER_TOOL]
    assert sent["messages"] == messages
    expected = cost_of(prompt_tokens=10, completion_tokens=2, prompt=PROMPT, completion=COMPLETION)
    assert final.usage is not None and (final.usage.model_extra or {})["cost"] == expected == 310
    assert account.balance() == START - expected
    ledger_verified(account)


def test_streamed_tool_call_arrives_as_deltas(live_server: Any, account: Account) -> None:
    # given the plain streaming call
    client = sdk(live_server, account.secret)
    # when the deltas are read one by one
    chunks = list(
        client.chat.completions.create(
            model="test/tools",
            messages=[{"role": "user", "content": "weather?"}],
            tools=[WEATHER_TOOL],
            stream=True,
        )
    )
    deltas = [c.choices[0].delta.tool_calls for c in chunks if c.choices]
    pieces = [d[0] for d in deltas if d]
    # then the id and name come first, the arguments follow in pieces that join up
    assert pieces[0].id == TOOL_CALL_ID and pieces[0].function.name == "get_weather"
    assert [p.function.arguments for p in pieces[1:]] == ['{"city"', ': "Par', 'is"}']
    assert "".join(p.function.arguments or "" for p in pieces) == TOOL_ARGUMENTS
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert account.balance() == START - 310
