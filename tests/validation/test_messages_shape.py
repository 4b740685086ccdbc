"""``/v1/messages`` and ``count_tokens``: each malformed request of issue 10 (once an HTML
500) is 400 in Anthropic's shape naming the field, before anything is held, on a route to
either upstream."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import ApiClient
from tests.validation.world import CLAUDE, GPT, World, assert_anthropic_invalid

pytestmark = pytest.mark.usefixtures("transactional_db")


def body(model: str, **fields: Any) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "hi"}],
        **fields,
    }


def with_content(model: str, content: Any) -> dict[str, Any]:
    return body(model, messages=[{"role": "user", "content": content}])


CASES: list[tuple[str, Any, str]] = [
    ("content ['hi']", lambda m: with_content(m, ["hi"]), "messages[0].content[0]"),
    ("tool_choice 'auto'", lambda m: body(m, tool_choice="auto"), "tool_choice"),
    ("tools [5]", lambda m: body(m, tools=[5]), "tools[0]"),
    ("thinking true", lambda m: body(m, thinking=True), "thinking"),
    ("metadata 'x'", lambda m: body(m, metadata="x"), "metadata"),
    (
        "text block text 5",
        lambda m: with_content(m, [{"type": "text", "text": 5}]),
        "messages[0].content[0].text",
    ),
    (
        "system text 5",
        lambda m: body(m, system=[{"type": "text", "text": 5}]),
        "system[0].text",
    ),
    (
        "image source 'x'",
        lambda m: with_content(m, [{"type": "image", "source": "x"}]),
        "messages[0].content[0].source",
    ),
    (
        "max_completion_tokens object",
        lambda m: body(m, max_completion_tokens={"v": 5}),
        "max_completion_tokens",
    ),
    (
        "tool_result content text 5",
        lambda m: with_content(
            m,
            [
                {
                    "type": "tool_result",
                    "tool_use_id": "t1",
                    "content": [{"type": "text", "text": 5}],
                }
            ],
        ),
        "messages[0].content[0].content[0].text",
    ),
    ("NUL in model", lambda m: body(m + "\x00"), "model"),
    (
        "max_price NaN",
        lambda m: body(m, provider={"max_price": {"prompt": "NaN"}}),
        "provider.max_price.prompt",
    ),
]


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
@pytest.mark.parametrize("model", [CLAUDE, GPT])
@pytest.mark.parametrize(("name", "make", "param"), CASES, ids=[c[0] for c in CASES])
def test_malformed_message_request_is_400_naming_the_field(
    api: ApiClient, world: World, path: str, model: str, name: str, make: Any, param: str
) -> None:
    # given a funded account and a model behind either upstream
    # when a malformed request is sent
    resp = api.post(path, make(model), account=world.account)
    # then it is refused in Anthropic's shape, and nothing was held, charged or sent
    assert_anthropic_invalid(resp, param)
    world.assert_untouched()


def test_well_formed_blocks_still_reach_the_anthropic_upstream(
    api: ApiClient, world: World
) -> None:
    # given a request using every checked block type correctly
    content = [
        {"type": "text", "text": "look", "cache_control": {"type": "ephemeral"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
        {"type": "tool_result", "tool_use_id": "t1", "content": "sunny"},
    ]
    request = body(
        CLAUDE,
        messages=[
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "w", "input": {}}],
            },
            {"role": "user", "content": content},
        ],
        system=[{"type": "text", "text": "be brief"}],
        tools=[{"name": "w", "input_schema": {"type": "object"}}],
        tool_choice={"type": "auto"},
        thinking={"type": "disabled"},
        metadata={"user_id": "u-1"},
    )
    # when it is sent
    resp = api.post("/v1/messages", request, account=world.account)
    # then the upstream got it as sent and it was billed
    assert resp.status_code == 200, resp.content
    assert world.anthropic.requests[-1]["body"]["messages"] == request["messages"]
    assert resp.json()["usage"]["cost"] > 0
