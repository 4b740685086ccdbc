"""Tool calling through the SDK: definitions, assistant tool calls and tool results pass to
the upstream verbatim, and the upstream's tool call comes back unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import Account, AccountFactory, ModelFactory
from tests.fakes.streams import TOOL_ARGUMENTS, TOOL_CALL_ID
from tests.fakes.upstream import FakeUpstream
from tests.helpers import cost_of, fake_usage
from tests.sse import ledger_verified, sdk

pytestmark = pytest.mark.usefixtures("transactional_db")

START = 10_000_000
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": "use the tools"},
    {"role": "user", "content": "weather in Paris and Rome?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_a",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            },
            {
                "id": "call_b",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
            },
        ],
    },
    {"role": "tool", "tool_call_id": "call_a", "content": '{"temp": 21}'},
    {"role": "tool", "tool_call_id": "call_b", "content": '{"temp": 25}'},
    {"role": "user", "content": "and tomorrow?"},
]


@pytest.fixture
def account(make_model: ModelFactory, make_account: AccountFactory) -> Account:
    make_model("test/echo", prompt="20", completion="55")
    return make_account(START)


def test_tool_conversation_reaches_the_upstream_verbatim_and_the_call_comes_back(
    live_server: Any, account: Account, upstream: FakeUpstream
) -> None:
    # given a conversation with assistant tool calls and tool results
    client = sdk(live_server, account.secret)
    choice = {"type": "function", "function": {"name": "get_weather"}}
    # when the SDK sends it with the tool forced
    result = client.chat.completions.create(
        model="test/echo",
        messages=CONVERSATION,  # type: ignore[arg-type]
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        tool_choice=choice,  # type: ignore[arg-type]
        parallel_tool_calls=False,
    )
    # then the upstream received every message, tool and choice unchanged
    sent = upstream.requests[-1]["body"]
    assert sent["messages"] == CONVERSATION
    assert sent["tools"] == [WEATHER_TOOL]
    assert sent["tool_choice"] == choice
    assert sent["parallel_tool_calls"] is False
    # and the SDK parsed the upstream's tool call as it was sent
    assert result.choices[0].finish_reason == "tool_calls"
    assert (result.choices[0].model_extra or {})["native_finish_reason"] == "tool_calls"
    calls = result.choices[0].message.tool_calls or []
    assert [(c.id, c.type, c.function.name, c.function.arguments) for c in calls] == [
        (TOOL_CALL_ID, "function", "get_weather", TOOL_ARGUMENTS)
    ]
    assert result.choices[0].message.content is None
    # and the upstream's usage was charged: 6 messages x 10 prompt tokens, 3 words
    prompt, completion = fake_usage({"messages": CONVERSATION})
    assert (prompt, completion) == (60, 3)
    expected = cost_of(prompt_tokens=60, completion_tokens=3, prompt="20", completion="55")
    assert result.usage is not None and (result.usage.model_extra or {})["cost"] == expected
    assert account.balance() == START - expected == START - 1365
    ledger_verified(account)


def test_tool_call_answer_can_be_sent_back_in_the_next_turn(
    live_server: Any, account: Account, upstream: FakeUpstream
) -> None:
    # given a first turn that ended in a tool call
    client = sdk(live_server, account.secret)
    first = client.chat.completions.create(
        model="test/echo",
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        tool_choice="required",
    )
    call = (first.choices[0].message.tool_calls or [])[0]
    # when the SDK's own message object and the tool result go back
    second = client.chat.completions.create(
        model="test/echo",
        messages=[
            {"role": "user", "content": "weather in Paris?"},
            first.choices[0].message.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
        ],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
    )
    # then the upstream saw the assistant's call and the tool result as the SDK sent them
    sent = upstream.requests[-1]["body"]["messages"]
    assert sent[1]["tool_calls"] == [
        {
            "id": TOOL_CALL_ID,
            "type": "function",
            "function": {"name": "get_weather", "arguments": TOOL_ARGUMENTS},
        }
    ]
    assert sent[2] == {"role": "tool", "tool_call_id": TOOL_CALL_ID, "content": "sunny"}
    assert second.choices[0].message.content == "echo: weather in Paris?"
    # and each turn was charged on its own usage: 10 + 4 tokens, then 30 + 4
    first_cost = cost_of(prompt_tokens=10, completion_tokens=4, prompt="20", completion="55")
    second_cost = cost_of(prompt_tokens=30, completion_tokens=4, prompt="20", completion="55")
    assert account.balance() == START - first_cost - second_cost == START - 420 - 820
    ledger_verified(account)
