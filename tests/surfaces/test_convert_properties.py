"""Round trips of the Anthropic <-> canonical conversion (no HTTP, no database).

Requests: canonical -> ``to_anthropic`` -> ``request_to_canonical`` keeps the conversation,
the tools and the tool choice, up to what Anthropic's format cannot tell apart. Both sides
are normalised the same way before comparing:

- content is compared as text: a string, a list of text parts and ``None`` become the joined
  text (``None`` -> ""), because Anthropic has only blocks and the way back joins text blocks;
- consecutive messages of the same role (user/user, assistant/assistant) are merged, their
  texts concatenated and their tool calls appended, because Anthropic needs alternating roles
  and ``to_anthropic`` merges them into one message;
- ``developer`` is ``system`` (both become Anthropic's ``system``);
- tool call arguments are compared as parsed JSON (the way back serialises compactly);
- a tool without description or parameters has "" and an empty object schema (what the
  conversion fills in); an absent ``tool_choice`` is ``auto`` (the default with tools), and
  ``parallel_tool_calls`` only matters when false (Anthropic's ``disable_parallel_tool_use``).

Integers in generated JSON stay within 64 bits (what the JSON parser keeps exact).

Responses: Anthropic -> ``from_anthropic`` -> (the chat surface's ``chat_response``) ->
``response_from_canonical`` keeps the text (its blocks joined, empty ones dropped), the
tool_use blocks in order, the stop_reason and the usage numbers; the canonical usage has no
cache-write count, so ``cache_creation_input_tokens`` come back inside ``input_tokens``.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.providers import Completion
from gateway.providers.anthropic_format import (
    STOP_TO_FINISH,
    from_anthropic,
    to_anthropic,
    usage_from_anthropic,
)
from gateway.records.outcome import Outcome
from gateway.surfaces.chat import chat_response
from gateway.surfaces.messages_inbound import request_to_canonical, response_from_canonical

EXAMPLES = settings(max_examples=100, deadline=None)
EMPTY_SCHEMA = {"type": "object", "properties": {}}

text = st.text(min_size=1, max_size=20)
names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,15}", fullmatch=True)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
arguments = st.dictionaries(st.text(max_size=8), json_values, max_size=4)


@st.composite
def content(draw: st.DrawFn) -> Any:
    """A non-empty text as a string or as text parts."""
    pieces = draw(st.lists(text, min_size=1, max_size=3))
    if len(pieces) == 1 and draw(st.booleans()):
        return pieces[0]
    return [{"type": "text", "text": p} for p in pieces]


@st.composite
def assistant_turn(draw: st.DrawFn, counter: list[int]) -> list[dict[str, Any]]:
    """Assistant text, or a tool call message followed by one tool message per call."""
    if draw(st.booleans()):
        return [
            {"role": "assistant", "content": draw(content())}
            for _ in range(draw(st.integers(1, 2)))
        ]
    calls = []
    for _ in range(draw(st.integers(1, 3))):
        counter[0] += 1
        fn = {"name": draw(names), "arguments": json.dumps(draw(arguments))}
        calls.append({"id": f"call_{counter[0]}", "type": "function", "function": fn})
    said = draw(st.none() | content())
    turn = [{"role": "assistant", "content": said, "tool_calls": calls}]
    for call in calls:
        turn.append(
            {"role": "tool", "tool_call_id": call["id"], "content": draw(st.text(max_size=20))}
        )
    return turn


@st.composite
def tool(draw: st.DrawFn, name: str) -> dict[str, Any]:
    fn: dict[str, Any] = {"name": name}
    if draw(st.booleans()):
        fn["description"] = draw(st.text(max_size=20))
    if draw(st.booleans()):
        props = draw(st.dictionaries(names, st.sampled_from(["string", "integer"]), max_size=3))
        fn["parameters"] = {
            "type": "object",
            "properties": {k: {"type": v} for k, v in props.items()},
            "required": sorted(props),
        }
    return {"type": "function", "function": fn}


@st.composite
def chat_requests(draw: st.DrawFn) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    if draw(st.booleans()):
        messages.append(
            {"role": draw(st.sampled_from(["system", "developer"])), "content": draw(content())}
        )
    counter = [0]
    rounds = draw(st.integers(1, 4))
    for n in range(rounds):
        messages += [
            {"role": "user", "content": draw(content())} for _ in range(draw(st.integers(1, 2)))
        ]
        if n < rounds - 1 or draw(st.booleans()):
            messages += draw(assistant_turn(counter))
    body: dict[str, Any] = {
        "model": "m",
        "messages": messages,
        "max_tokens": draw(st.integers(1, 8192)),
    }
    tool_names = draw(st.lists(names, max_size=3, unique=True))
    if tool_names:
        body["tools"] = [draw(tool(name)) for name in tool_names]
        forced = {"type": "function", "function": {"name": draw(st.sampled_from(tool_names))}}
        choice = draw(st.sampled_from([None, "auto", "required", "none", forced]))
        if choice is not None:
            body["tool_choice"] = choice
        parallel = draw(st.sampled_from([None, True, False]))
        if parallel is not None:
            body["parallel_tool_calls"] = parallel
    return body


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return "".join(part["text"] for part in value)


def normalised_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for message in messages:
        role = "system" if message["role"] == "developer" else message["role"]
        if role == "tool":
            out.append(
                {"role": role, "id": message["tool_call_id"], "text": _text(message["content"])}
            )
            continue
        calls = [
            (c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
            for c in message.get("tool_calls") or []
        ]
        if out and out[-1]["role"] == role:
            out[-1]["text"] += _text(message.get("content"))
            out[-1]["calls"] += calls
        else:
            out.append({"role": role, "text": _text(message.get("content")), "calls": calls})
    return out


def normalised_tools(body: dict[str, Any]) -> tuple[Any, ...]:
    tools = [
        (
            t["function"]["name"],
            t["function"].get("description", ""),
            t["function"].get("parameters") or EMPTY_SCHEMA,
        )
        for t in body.get("tools") or []
    ]
    choice = body.get("tool_choice", "auto") if tools else None
    parallel = body.get("parallel_tool_calls") is False if tools else None
    return tools, choice, parallel


@EXAMPLES
@given(chat_requests())
def test_canonical_request_survives_the_round_trip_through_anthropic(body: dict[str, Any]) -> None:
    # given a canonical chat request; when it goes to Anthropic's format and back
    back = request_to_canonical(to_anthropic(body, model="claude"))
    # then the conversation, the tools and the tool choice are the same
    assert normalised_messages(back["messages"]) == normalised_messages(body["messages"])
    assert normalised_tools(back) == normalised_tools(body)
    assert back["max_tokens"] == body["max_tokens"]


@st.composite
def anthropic_responses(draw: st.DrawFn) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = []
    for n in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            blocks.append({"type": "text", "text": draw(st.text(max_size=20))})
        else:
            blocks.append(
                {
                    "type": "tool_use",
                    "id": f"toolu_{n}",
                    "name": draw(names),
                    "input": draw(arguments),
                }
            )
    counts = st.integers(0, 10**6)
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": blocks,
        "stop_reason": draw(st.sampled_from(sorted(STOP_TO_FINISH))),
        "stop_sequence": None,
        "usage": {
            "input_tokens": draw(counts),
            "output_tokens": draw(counts),
            "cache_read_input_tokens": draw(counts),
            "cache_creation_input_tokens": draw(counts),
        },
    }


@EXAMPLES
@given(anthropic_responses(), st.integers(0, 10**7))
def test_anthropic_response_survives_the_round_trip_through_canonical(
    data: dict[str, Any], cost: int
) -> None:
    # given an Anthropic response; when it becomes a chat completion and an Anthropic
    # response again, as the messages surface does for a translated route
    usage = usage_from_anthropic(data["usage"])
    outcome = Outcome(request_id="gen-1", user_id=1, api_key_id=None, surface="messages")
    outcome.model, outcome.usage = "anthropic/claude", usage
    chat = chat_response(Completion(body=from_anthropic(data), usage=usage), outcome, cost)
    back = response_from_canonical(chat, usage=usage, cost=cost)
    # then the text, the tool uses, the stop reason and the usage numbers are kept
    text = "".join(b["text"] for b in data["content"] if b["type"] == "text")
    uses = [b for b in data["content"] if b["type"] == "tool_use"]
    assert back["content"] == ([{"type": "text", "text": text}] if text else []) + uses
    assert back["stop_reason"] == data["stop_reason"]
    sent = data["usage"]
    assert back["usage"] == {
        "input_tokens": sent["input_tokens"] + sent["cache_creation_input_tokens"],
        "output_tokens": sent["output_tokens"],
        "cache_read_input_tokens": sent["cache_read_input_tokens"],
        "cache_creation_input_tokens": 0,
        "cost": cost,
    }
