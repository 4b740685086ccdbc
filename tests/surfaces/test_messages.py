"""``POST /v1/messages`` through the official ``anthropic`` SDK, for a route of each dialect,
streamed and not: the text, the usage, and the exact charge."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import Account
from tests.surfaces.targets import Target, assert_charged, claude_sdk, cost

pytestmark = pytest.mark.usefixtures("transactional_db")

QUESTION = "hello there gateway"
REQUEST: dict[str, Any] = {
    "max_tokens": 64,
    "system": "be brief",
    "messages": [{"role": "user", "content": QUESTION}],
}


def test_messages_create_answers_and_charges_the_upstream_usage(
    live_server: Any, account: Account, target: Target
) -> None:
    # given the anthropic SDK pointed at the gateway
    client = claude_sdk(live_server, account.secret)
    # when it creates a message with a system prompt
    message = client.messages.create(model=target.model, **REQUEST)
    # then the fake's reply comes back as one text block
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == target.reply(QUESTION)
    assert (message.role, message.stop_reason, message.model) == (
        "assistant",
        "end_turn",
        target.model,
    )
    # and the usage is the fake's: 10 for the message + 10 for the system prompt, 4 words
    prompt = target.prompt_tokens(turns=1, system=True)
    assert (message.usage.input_tokens, message.usage.output_tokens) == (prompt, 4)
    expected = cost(prompt, 4)
    assert expected == 20 * 20 + 4 * 55 == 620
    assert (message.usage.model_extra or {})["cost"] == expected
    assert (message.model_extra or {})["provider"] == target.provider
    # and exactly that was charged, recorded on the messages surface
    generation = assert_charged(account, message.id, expected, "messages")
    assert (generation.prompt_tokens, generation.completion_tokens) == (prompt, 4)
    assert target.sent()["max_tokens"] == 64


def test_messages_stream_delivers_the_text_and_the_final_usage(
    live_server: Any, account: Account, target: Target
) -> None:
    # given the anthropic SDK
    client = claude_sdk(live_server, account.secret)
    # when it streams a message
    with client.messages.stream(model=target.model, **REQUEST) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    # then the text arrived in pieces that add up to the reply, and the final message holds it
    assert text == target.reply(QUESTION)
    assert [block.type for block in final.content] == ["text"]
    assert final.content[0].text == text
    assert (final.stop_reason, final.model) == ("end_turn", target.model)
    prompt = target.prompt_tokens(turns=1, system=True)
    assert (final.usage.input_tokens, final.usage.output_tokens) == (prompt, 4)
    # and the upstream's usage was charged exactly, as a streamed messages request
    generation = assert_charged(account, final.id, cost(prompt, 4), "messages")
    assert (generation.is_streamed, generation.usage_estimated) == (True, False)
    assert target.sent()["stream"] is True


def test_messages_raw_stream_events_close_with_usage_and_cost(
    live_server: Any, account: Account, target: Target
) -> None:
    # given the anthropic SDK
    client = claude_sdk(live_server, account.secret)
    # when it reads the raw event stream
    events = list(client.messages.create(model=target.model, stream=True, **REQUEST))
    # then the events come in Anthropic's order
    kinds = [event.type for event in events]
    assert kinds[0] == "message_start"
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert kinds.count("content_block_start") == kinds.count("content_block_stop") == 1
    assert kinds.index("content_block_start") < kinds.index("content_block_delta")
    deltas = [e.delta.text for e in events if e.type == "content_block_delta"]
    assert "".join(deltas) == target.reply(QUESTION)
    # and the closing message_delta carries the stop reason, the usage and the cost
    closing = events[-2]
    prompt = target.prompt_tokens(turns=1, system=True)
    expected = cost(prompt, 4)
    assert closing.delta.stop_reason == "end_turn"
    assert (closing.usage.input_tokens, closing.usage.output_tokens) == (prompt, 4)
    assert (closing.usage.model_extra or {})["cost"] == expected
    assert_charged(account, events[0].message.id, expected, "messages")


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_max_tokens_cut_is_a_max_tokens_stop(
    live_server: Any, account: Account, target: Target, stream: bool
) -> None:
    # given a max_tokens below the reply's length (5 words)
    client = claude_sdk(live_server, account.secret)
    body = {**REQUEST, "max_tokens": 3, "messages": [{"role": "user", "content": "a b c d"}]}
    # when
    if stream:
        with client.messages.stream(model=target.model, **body) as s:
            message = s.get_final_message()
    else:
        message = client.messages.create(model=target.model, **body)
    # then the answer stops after 3 words, and says why
    assert message.content[0].text == target.reply("a b")
    assert (message.stop_reason, message.usage.output_tokens) == ("max_tokens", 3)
    prompt = target.prompt_tokens(turns=1, system=True)
    assert_charged(account, message.id, cost(prompt, 3), "messages")
