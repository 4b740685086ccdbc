"""Native passthrough: a ``/v1/messages`` request reaches an Anthropic route as it came (only
``model`` renamed), so provider-specific fields survive; an OpenAI route gets it
translated."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import ANTHROPIC_SECRET, Account
from tests.surfaces.targets import Target, assert_charged, claude_sdk, cost

pytestmark = pytest.mark.usefixtures("transactional_db")

BETA = "prompt-caching-2024-07-31"
SYSTEM: Any = [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}]
MESSAGES: Any = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "hello there", "cache_control": {"type": "ephemeral"}}
        ],
    }
]
METADATA = {"user_id": "user-42"}


def create(client: Any, target: Target, **extra: Any) -> Any:
    return client.messages.create(
        model=target.model,
        max_tokens=64,
        system=SYSTEM,
        messages=MESSAGES,
        metadata=METADATA,
        extra_headers={"anthropic-beta": BETA},
        **extra,
    )


def test_anthropic_route_receives_the_request_verbatim(
    live_server: Any, account: Account, claude: Target
) -> None:
    # given a request with cache_control blocks, metadata, a beta header and a field the
    # gateway does not know
    client = claude_sdk(live_server, account.secret)
    # when it goes to a route of the anthropic dialect
    message = create(client, claude, extra_body={"service_tier": "standard_only"})
    # then the fake got exactly the client's body with the upstream model name
    sent = claude.upstream.requests[-1]
    assert sent["body"] == {
        "model": "claude",
        "max_tokens": 64,
        "system": SYSTEM,
        "messages": MESSAGES,
        "metadata": METADATA,
        "service_tier": "standard_only",
    }
    # and the beta header, with the gateway's own upstream key (never the client's)
    assert sent["headers"]["anthropic-beta"] == BETA
    assert sent["headers"]["x-api-key"] == ANTHROPIC_SECRET
    assert sent["headers"]["anthropic-version"] == "2023-06-01"
    # and the upstream's usage came back whole: 10 for the message + 10 for the system,
    # 8 cache-creation tokens (billed at the prompt price), 3 words
    assert message.content[0].text == "claude: hello there"
    usage = message.usage
    assert (usage.input_tokens, usage.output_tokens) == (20, 3)
    assert (usage.cache_creation_input_tokens, usage.cache_read_input_tokens) == (8, 0)
    expected = cost(28, 3)
    assert expected == 28 * 20 + 3 * 55 == 725
    assert (usage.model_extra or {})["cost"] == expected
    generation = assert_charged(account, message.id, expected, "messages")
    assert generation.native_usage["cache_creation_input_tokens"] == 8


def test_anthropic_route_receives_a_streamed_request_verbatim(
    live_server: Any, account: Account, claude: Target
) -> None:
    # given the same request, streamed
    client = claude_sdk(live_server, account.secret)
    # when
    with client.messages.stream(
        model=claude.model,
        max_tokens=64,
        system=SYSTEM,
        messages=MESSAGES,
        metadata=METADATA,
        extra_headers={"anthropic-beta": BETA},
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    # then the body went upstream as sent, with stream true
    sent = claude.upstream.requests[-1]
    assert sent["body"] == {
        "model": "claude",
        "max_tokens": 64,
        "system": SYSTEM,
        "messages": MESSAGES,
        "metadata": METADATA,
        "stream": True,
    }
    assert sent["headers"]["anthropic-beta"] == BETA
    # and the streamed usage is the upstream's, the cache creation billed at the prompt price
    assert text == "claude: hello there"
    assert (final.usage.input_tokens, final.usage.cache_creation_input_tokens) == (20, 8)
    assert_charged(account, final.id, cost(28, 3), "messages")


def test_openai_route_receives_the_request_translated(
    live_server: Any, account: Account, gpt: Target
) -> None:
    # given the same request
    client = claude_sdk(live_server, account.secret)
    # when it goes to a route of the openai dialect
    message = create(client, gpt)
    # then the fake got a chat request: plain strings, metadata.user_id as user, no
    # Anthropic-only fields, no beta header
    sent = gpt.upstream.requests[-1]
    assert sent["body"]["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello there"},
    ]
    assert (sent["body"]["model"], sent["body"]["user"], sent["body"]["max_tokens"]) == (
        "echo",
        "user-42",
        64,
    )
    assert "cache_control" not in str(sent["body"])
    assert not {"metadata", "system"} & set(sent["body"])
    assert "anthropic-beta" not in {k.lower() for k in sent["headers"]}
    # and the answer is in Anthropic's shape, charged at the OpenAI fake's usage
    assert message.content[0].text == "echo: hello there"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (20, 3)
    assert_charged(account, message.id, cost(20, 3), "messages")
