"""``/v1/chat/completions`` and ``/v1/completions``: content parts are objects of a known
type with their own field checked, before the hold, so a request to an Anthropic route can
no longer fail after it (issue 10: the hold was released but no record written)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import ApiClient
from tests.validation.world import CLAUDE, GPT, World, assert_openai_invalid

pytestmark = pytest.mark.usefixtures("transactional_db")


def chat(model: str, content: Any = "hi", **fields: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], **fields}


CASES: list[tuple[str, Any, str]] = [
    ("content ['hi']", lambda m: chat(m, ["hi"]), "messages[0].content[0]"),
    (
        "text part text 5",
        lambda m: chat(m, [{"type": "text", "text": 5}]),
        "messages[0].content[0].text",
    ),
    (
        "second part text 5",
        lambda m: chat(m, [{"type": "text", "text": "a"}, {"type": "text", "text": 5}]),
        "messages[0].content[1].text",
    ),
    (
        "unknown part type",
        lambda m: chat(m, [{"type": "video", "x": 1}]),
        "messages[0].content[0].type",
    ),
    (
        "image_url 5",
        lambda m: chat(m, [{"type": "image_url", "image_url": 5}]),
        "messages[0].content[0].image_url",
    ),
    (
        "tool_calls [5]",
        lambda m: {
            "model": m,
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": None, "tool_calls": [5]},
            ],
        },
        "messages[1].tool_calls[0]",
    ),
    (
        "reasoning effort list",
        lambda m: chat(m, reasoning={"effort": ["high"]}),
        "reasoning.effort",
    ),
    (
        "reasoning max_tokens 'x'",
        lambda m: chat(m, reasoning={"max_tokens": "x"}),
        "reasoning.max_tokens",
    ),
    (
        "parallel_tool_calls 'no'",
        lambda m: chat(m, parallel_tool_calls="no"),
        "parallel_tool_calls",
    ),
    ("NUL in user", lambda m: chat(m, user="a\x00b"), "user"),
    ("NUL in model", lambda m: chat(m + "\x00"), "model"),
    ("models 1", lambda m: chat(m, models=1), "models"),
    ("models [5]", lambda m: chat(m, models=[5]), "models[0]"),
]


@pytest.mark.parametrize("model", [GPT, CLAUDE])
@pytest.mark.parametrize(("name", "make", "param"), CASES, ids=[c[0] for c in CASES])
def test_malformed_chat_request_is_400_naming_the_field(
    api: ApiClient, world: World, model: str, name: str, make: Any, param: str
) -> None:
    # when a malformed request is sent
    resp = api.post("/v1/chat/completions", make(model), account=world.account)
    # then it is refused naming the field, and nothing was held, charged, recorded or sent
    assert_openai_invalid(resp, param)
    world.assert_untouched()


def test_nesting_deeper_than_the_limit_is_400_naming_where(api: ApiClient, world: World) -> None:
    # given an unknown field nested 70 levels deep (the JSON parser accepts 1024, the
    # serialiser 254): once a 500 when the body was serialised for the hold's bound
    deep: Any = 1
    for _ in range(70):
        deep = [deep]
    # when it is sent
    resp = api.post("/v1/chat/completions", chat(GPT, extra=deep), account=world.account)
    # then it is refused at the first level beyond the limit of 64
    assert_openai_invalid(resp, "extra" + "[0]" * 63)
    world.assert_untouched()


def test_legacy_completion_logprobs_out_of_range_is_400(api: ApiClient, world: World) -> None:
    resp = api.post(
        "/v1/completions", {"model": GPT, "prompt": "hi", "logprobs": "5"}, account=world.account
    )
    assert_openai_invalid(resp, "logprobs")
    world.assert_untouched()


@pytest.mark.parametrize(
    "content",
    [
        [{"type": "text", "text": "hi"}],
        [{"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}}],
        [{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}],
        [
            {
                "type": "file",
                "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,AA"},
            }
        ],
    ],
    ids=["text", "image_url", "input_audio", "file"],
)
def test_known_content_parts_still_reach_the_upstream(
    api: ApiClient, world: World, content: list[dict[str, Any]]
) -> None:
    # when a chat request uses a documented content part
    resp = api.post("/v1/chat/completions", chat(GPT, content), account=world.account)
    # then the upstream got it unchanged and it was billed
    assert resp.status_code == 200, resp.content
    assert world.upstream.requests[-1]["body"]["messages"][0]["content"] == content
    assert resp.json()["usage"]["cost"] > 0
