"""Tool use across surfaces and dialects: a tool call, its result sent back, and what the
upstream received in between; streamed tool input reassembled by the SDK."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.models import Generation
from tests.factories import Account, ModelFactory
from tests.fakes.anthropic_upstream import TOOL_INPUT
from tests.sse import ledger_verified
from tests.surfaces.targets import (
    COMPLETION,
    PROMPT,
    START,
    Target,
    assert_charged,
    claude_sdk,
    cost,
    openai_sdk,
)

pytestmark = pytest.mark.usefixtures("transactional_db")

QUESTION = "weather in Paris?"
RESULT = "18C and sunny"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
ANTHROPIC_TOOL: Any = {"name": "get_weather", "description": "Weather", "input_schema": SCHEMA}
RESPONSES_TOOL: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather",
    "parameters": SCHEMA,
}


def forced_tool_completion(target: Target) -> int:
    """Completion tokens of a forced tool call: the OpenAI fake counts the words of the echo
    reply it would have given ("echo: weather in Paris?", 4); the Anthropic fake the words
    of the tool input ('{"city": "Paris"}', 2)."""
    return 4 if target.dialect == "openai" else 2


def assert_charged_each(account: Account, expected: dict[str, int], surface: str) -> None:
    """One settled Generation per request id with its exact cost, and the balance paid all."""
    generations = {g.request_id: g for g in Generation.objects.all()}
    assert {rid: g.cost for rid, g in generations.items()} == expected
    assert {(g.surface, g.status) for g in generations.values()} == {(surface, "success")}
    assert account.balance() == START - sum(expected.values())
    ledger_verified(account)


def test_messages_tool_use_then_tool_result(
    live_server: Any, account: Account, target: Target
) -> None:
    # given the anthropic SDK and a weather tool the model must use
    client = claude_sdk(live_server, account.secret)
    question: Any = {"role": "user", "content": QUESTION}
    # when it asks
    first = client.messages.create(
        model=target.model,
        max_tokens=64,
        messages=[question],
        tools=[ANTHROPIC_TOOL],
        tool_choice={"type": "any"},
    )
    # then the answer is a tool_use block
    assert first.stop_reason == "tool_use"
    assert [block.type for block in first.content] == ["tool_use"]
    use = first.content[0]
    assert use.type == "tool_use"
    assert (use.name, use.input) == ("get_weather", TOOL_INPUT)
    # when it sends the tool's result back
    turns: Any = [
        question,
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": use.id, "name": use.name, "input": use.input}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": RESULT}],
        },
    ]
    second = client.messages.create(
        model=target.model, max_tokens=64, messages=turns, tools=[ANTHROPIC_TOOL]
    )
    # then the upstream received the call and its result in its own format
    sent = target.sent()
    if target.dialect == "openai":
        assistant, tool = sent["messages"][1:]
        assert (assistant["role"], assistant["content"]) == ("assistant", None)
        [tool_call] = assistant["tool_calls"]
        assert (tool_call["id"], tool_call["type"]) == (use.id, "function")
        assert tool_call["function"]["name"] == "get_weather"
        assert json.loads(tool_call["function"]["arguments"]) == TOOL_INPUT
        assert tool == {"role": "tool", "tool_call_id": use.id, "content": RESULT}
        assert sent["tools"][0]["function"]["parameters"] == SCHEMA
        reply = target.reply(QUESTION)  # the OpenAI fake echoes the last user message
        prompt = 30
    else:
        assert sent["messages"] == turns  # native passthrough: the blocks verbatim
        assert sent["tools"] == [ANTHROPIC_TOOL]
        reply = target.reply(RESULT)  # the Anthropic fake echoes the tool result
        prompt = 30
    assert second.stop_reason == "end_turn"
    assert second.content[0].type == "text"
    assert second.content[0].text == reply
    completion = len(reply.split())
    assert (second.usage.input_tokens, second.usage.output_tokens) == (prompt, completion)
    # and each call was charged its own usage
    expected = {
        first.id: cost(10, forced_tool_completion(target)),
        second.id: cost(prompt, completion),
    }
    assert_charged_each(account, expected, "messages")


def test_responses_function_call_round_trip(
    live_server: Any, account: Account, target: Target
) -> None:
    # given the openai SDK and a function tool the model must call
    client = openai_sdk(live_server, account.secret)
    # when it asks
    first = client.responses.create(
        model=target.model, input=QUESTION, tools=[RESPONSES_TOOL], tool_choice="required"
    )
    # then the output is a function_call item
    assert [item.type for item in first.output] == ["function_call"]
    call = first.output[0]
    assert call.type == "function_call"
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == TOOL_INPUT
    # when it sends the call and its output back as input items
    items: Any = [
        {"role": "user", "content": QUESTION},
        {
            "type": "function_call",
            "call_id": call.call_id,
            "name": call.name,
            "arguments": call.arguments,
        },
        {"type": "function_call_output", "call_id": call.call_id, "output": RESULT},
    ]
    second = client.responses.create(model=target.model, input=items, tools=[RESPONSES_TOOL])
    # then the upstream received the call and the result in its own format
    sent = target.sent()
    if target.dialect == "openai":
        assert sent["messages"][1]["tool_calls"][0]["id"] == call.call_id
        assert sent["messages"][2] == {
            "role": "tool",
            "tool_call_id": call.call_id,
            "content": RESULT,
        }
        reply, prompt = target.reply(QUESTION), 30
    else:
        assert sent["messages"][1:] == [
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": call.call_id,
                        "name": "get_weather",
                        "input": TOOL_INPUT,
                    }
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": call.call_id, "content": RESULT}
                ],
            },
        ]
        reply, prompt = target.reply(RESULT), 30
    assert second.output_text == reply
    assert second.usage is not None
    completion = len(reply.split())
    assert (second.usage.input_tokens, second.usage.output_tokens) == (prompt, completion)
    expected = {
        first.id: cost(10, forced_tool_completion(target)),
        second.id: cost(prompt, completion),
    }
    assert_charged_each(account, expected, "responses")


def test_streamed_tool_use_is_reassembled_by_the_sdk(
    live_server: Any, account: Account, target: Target, make_model: ModelFactory
) -> None:
    # given a model that answers with a streamed tool call (for the OpenAI fake, the
    # ``toolstream`` route; the Anthropic fake streams one whenever tool_choice forces it)
    model = target.model
    if target.dialect == "openai":
        model = "openai/toolstream"
        make_model(model, upstream_models=("toolstream",), prompt=PROMPT, completion=COMPLETION)
    client = claude_sdk(live_server, account.secret)
    # when the SDK streams the answer
    with client.messages.stream(
        model=model,
        max_tokens=64,
        messages=[{"role": "user", "content": QUESTION}],
        tools=[ANTHROPIC_TOOL],
        tool_choice={"type": "tool", "name": "get_weather"},
    ) as stream:
        events = list(stream)
        final = stream.get_final_message()
    # then the input arrived as input_json_delta pieces and was put together
    pieces = [
        e.delta.partial_json
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
    ]
    assert len(pieces) == 3
    assert json.loads("".join(pieces)) == TOOL_INPUT
    assert final.stop_reason == "tool_use"
    assert [block.type for block in final.content] == ["tool_use"]
    use = final.content[0]
    assert use.type == "tool_use"
    assert (use.name, use.input) == ("get_weather", TOOL_INPUT)
    # and both fakes report 10 prompt tokens and 2 for the tool input
    assert (final.usage.input_tokens, final.usage.output_tokens) == (10, 2)
    assert_charged(account, final.id, cost(10, 2), "messages")


def test_streamed_responses_function_call_is_reassembled_by_the_sdk(
    live_server: Any, account: Account, target: Target, make_model: ModelFactory
) -> None:
    # given a model that answers with a streamed tool call (see the test above)
    model = target.model
    if target.dialect == "openai":
        model = "openai/toolstream"
        make_model(model, upstream_models=("toolstream",), prompt=PROMPT, completion=COMPLETION)
    client = openai_sdk(live_server, account.secret)
    # when the SDK streams a response that must call the function
    events = list(
        client.responses.create(
            model=model,
            input=QUESTION,
            tools=[RESPONSES_TOOL],
            tool_choice={"type": "function", "name": "get_weather"},
            stream=True,
        )
    )
    # then the arguments arrive as deltas and the completed response holds the call
    kinds = [e.type for e in events]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds[-3:] == [
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    pieces = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    assert len(pieces) == 3
    assert json.loads("".join(pieces)) == TOOL_INPUT
    done = events[-1].response
    assert [item.type for item in done.output] == ["function_call"]
    call = done.output[0]
    assert call.type == "function_call"
    assert (call.name, json.loads(call.arguments)) == ("get_weather", TOOL_INPUT)
    assert done.usage is not None
    assert (done.usage.input_tokens, done.usage.output_tokens) == (10, 2)
    assert_charged(account, done.id, cost(10, 2), "responses")
