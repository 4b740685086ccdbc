"""``/v1/embeddings``: the routing fields are checked like chat's (``provider: 1`` and
``models: 1`` were HTML 500s), and ``input`` takes OpenAI's four forms only: a string, an
array of strings, an array of token ids, an array of token arrays. A bare integer (which
went upstream and came back 502) is none of them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import ApiClient
from tests.validation.world import EMBED, START, World, assert_openai_invalid

pytestmark = pytest.mark.usefixtures("transactional_db")

BAD: list[tuple[str, dict[str, Any], str]] = [
    ("provider 1", {"input": "hi", "provider": 1}, "provider"),
    ("models 1", {"input": "hi", "models": 1}, "models"),
    ("input 1", {"input": 1}, "input"),
    ("input 1.5", {"input": 1.5}, "input"),
    ("input true", {"input": True}, "input"),
    ("input {}", {"input": {"a": 1}}, "input"),
    ("mixed strings and ids", {"input": ["a", 1]}, "input[1]"),
    ("negative token id", {"input": [[1, -2]]}, "input[0]"),
    ("empty string item", {"input": ["a", ""]}, "input[1]"),
    ("dimensions 'x'", {"input": "hi", "dimensions": "x"}, "dimensions"),
    ("NUL in user", {"input": "hi", "user": "\x00"}, "user"),
    (
        "max_price NaN",
        {"input": "hi", "provider": {"max_price": {"prompt": "NaN"}}},
        "provider.max_price.prompt",
    ),
]


@pytest.mark.parametrize(("name", "fields", "param"), BAD, ids=[c[0] for c in BAD])
def test_malformed_embeddings_request_is_400_naming_the_field(
    api: ApiClient, world: World, name: str, fields: dict[str, Any], param: str
) -> None:
    # when a malformed request is sent
    resp = api.post("/v1/embeddings", {"model": EMBED, **fields}, account=world.account)
    # then it is refused naming the field, and nothing was held, charged or sent
    assert_openai_invalid(resp, param)
    world.assert_untouched()


@pytest.mark.parametrize(
    ("value", "items"),
    [("hello", 1), (["a", "b"], 2), ([1, 2, 3], 1), ([[1, 2], [3]], 2)],
    ids=["string", "strings", "token ids", "token arrays"],
)
def test_the_four_input_forms_are_embedded_and_billed(
    api: ApiClient, world: World, value: Any, items: int
) -> None:
    # when each documented form is sent
    resp = api.post("/v1/embeddings", {"model": EMBED, "input": value}, account=world.account)
    # then it is answered (3 prompt tokens an item at 50 credits each) and billed once
    assert resp.status_code == 200, resp.content
    assert len(resp.json()["data"]) == items
    cost = max(150 * items, 100)
    assert resp.json()["usage"]["cost"] == cost
    assert world.account.balance() == START - cost
