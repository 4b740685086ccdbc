"""``/v1/responses``: each malformed request of issue 10 (once an HTML 500) is 400 in the
OpenAI shape naming the field, before anything is held."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import ApiClient
from tests.validation.world import CLAUDE, GPT, World, assert_openai_invalid

pytestmark = pytest.mark.usefixtures("transactional_db")


def body(model: str, **fields: Any) -> dict[str, Any]:
    item = {"role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    return {"model": model, "input": [item], **fields}


def with_content(model: str, content: Any) -> dict[str, Any]:
    return body(model, input=[{"role": "user", "content": content}])


CASES: list[tuple[str, Any, str]] = [
    ("content ['hi']", lambda m: with_content(m, ["hi"]), "input[0].content[0]"),
    ("content 5", lambda m: with_content(m, 5), "input[0].content"),
    ("text 'x'", lambda m: body(m, text="x"), "text"),
    ("reasoning 'x'", lambda m: body(m, reasoning="x"), "reasoning"),
    ("tools true", lambda m: body(m, tools=True), "tools"),
    (
        "input_text text 5",
        lambda m: with_content(m, [{"type": "input_text", "text": 5}]),
        "input[0].content[0].text",
    ),
    ("instructions 5", lambda m: body(m, instructions=5), "instructions"),
    ("text.format 'json'", lambda m: body(m, text={"format": "json"}), "text.format"),
    ("metadata []", lambda m: body(m, metadata=[]), "metadata"),
    ("max_output_tokens '8'", lambda m: body(m, max_output_tokens="8"), "max_output_tokens"),
    (
        "function_call name 5",
        lambda m: body(m, input=[{"type": "function_call", "call_id": "c", "name": 5}]),
        "input[0].name",
    ),
    (
        "max_price -1",
        lambda m: body(m, provider={"max_price": {"prompt": -1}}),
        "provider.max_price.prompt",
    ),
]


@pytest.mark.parametrize("model", [GPT, CLAUDE])
@pytest.mark.parametrize(("name", "make", "param"), CASES, ids=[c[0] for c in CASES])
def test_malformed_responses_request_is_400_naming_the_field(
    api: ApiClient, world: World, model: str, name: str, make: Any, param: str
) -> None:
    # when a malformed request is sent
    resp = api.post("/v1/responses", make(model), account=world.account)
    # then it is refused naming the field, and nothing was held, charged or sent
    assert_openai_invalid(resp, param)
    world.assert_untouched()


def test_well_formed_items_still_answer(api: ApiClient, world: World) -> None:
    # given every checked field used correctly
    request = body(
        GPT,
        instructions="be brief",
        text={"format": {"type": "json_schema", "name": "a", "schema": {"type": "object"}}},
        reasoning={"effort": "low"},
        metadata={"k": "v"},
        tools=[{"type": "function", "name": "w", "parameters": {"type": "object"}}],
        tool_choice="auto",
    )
    # when it is sent
    resp = api.post("/v1/responses", request, account=world.account)
    # then it was answered and billed
    assert resp.status_code == 200, resp.content
    assert resp.json()["usage"]["cost"] > 0
    assert world.upstream.requests[-1]["body"]["messages"][0] == {
        "role": "system",
        "content": "be brief",
    }
