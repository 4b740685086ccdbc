"""A Claude model (``anthropic`` dialect) through ``/v1/chat/completions`` with the official
``openai`` SDK: the request is translated to Anthropic's wire format and the answer back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from catalog.models import Route
from tests.factories import Account
from tests.fakes.anthropic_upstream import TOOL_INPUT, TOOL_USE_ID
from tests.surfaces.targets import Target, assert_charged, cost, openai_sdk

pytestmark = pytest.mark.usefixtures("transactional_db")

MESSAGES: Any = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "hello there gateway"},
]


def test_chat_completion_of_claude_is_translated_both_ways(
    live_server: Any, account: Account, claude: Target
) -> None:
    # given the openai SDK and a model served by an Anthropic upstream
    client = openai_sdk(live_server, account.secret)
    # when it asks for a chat completion
    completion = client.chat.completions.create(
        model=claude.model, messages=MESSAGES, max_tokens=64, temperature=1.5
    )
    # then the Anthropic fake got a Messages request: system apart, temperature capped at 1
    sent = claude.upstream.requests[-1]
    assert sent["path"] == "/v1/messages"
    assert sent["headers"]["anthropic-version"] == "2023-06-01"
    assert sent["body"]["system"] == [{"type": "text", "text": "be brief"}]
    assert sent["body"]["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "hello there gateway"}]}
    ]
    assert (sent["body"]["model"], sent["body"]["max_tokens"]) == ("claude", 64)
    assert sent["body"]["temperature"] == 1.0
    # and the answer is a chat completion with the usage and the cost
    choice = completion.choices[0]
    assert choice.message.content == "claude: hello there gateway"
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (20, 4)
    expected = cost(20, 4)
    assert (completion.usage.model_extra or {})["cost"] == expected
    assert_charged(account, completion.id, expected, "chat.completions")


def test_streamed_chat_completion_of_claude_ends_with_the_usage_chunk(
    live_server: Any, account: Account, claude: Target
) -> None:
    # given the openai SDK
    client = openai_sdk(live_server, account.secret)
    # when it streams a chat completion of Claude
    chunks = list(
        client.chat.completions.create(
            model=claude.model,
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    # then the text comes in pieces, a stop finish, and a closing usage chunk with the cost
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "claude: hello there gateway"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert [f for f in finishes if f] == ["stop"]
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (20, 4)
    expected = cost(20, 4)
    assert (last.usage.model_extra or {})["cost"] == expected
    assert claude.sent()["stream"] is True
    assert_charged(account, last.id, expected, "chat.completions")


def test_cache_reads_of_claude_are_billed_at_the_cache_price(
    live_server: Any, account: Account, claude: Target
) -> None:
    # given an Anthropic route that reports 5 cache-read tokens (the fake's ``cached`` model)
    Route.objects.filter(model__public_id=claude.model).update(upstream_model="cached")
    client = openai_sdk(live_server, account.secret)
    # when
    completion = client.chat.completions.create(
        model=claude.model, messages=MESSAGES[1:], max_tokens=64
    )
    # then prompt tokens = 10 uncached + 5 read; the read ones cost the cache price
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 15
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 5
    expected = cost(15, 4, cached_tokens=5)
    assert expected == 10 * 20 + 5 * 2 + 4 * 55 == 430
    assert_charged(account, completion.id, expected, "chat.completions")


def test_forced_tool_choice_of_claude_returns_tool_calls(
    live_server: Any, account: Account, claude: Target
) -> None:
    # given a tool and tool_choice required
    client = openai_sdk(live_server, account.secret)
    tool: Any = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    # when
    completion = client.chat.completions.create(
        model=claude.model, messages=MESSAGES[1:], tools=[tool], tool_choice="required"
    )
    # then Anthropic's tool_choice any went upstream, and its tool_use came back as a call
    assert claude.sent()["tool_choice"] == {"type": "any"}
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [(c.id, c.function.name) for c in calls] == [(TOOL_USE_ID, "get_weather")]
    assert json.loads(calls[0].function.arguments) == TOOL_INPUT
    assert_charged(account, completion.id, cost(10, 2), "chat.completions")
