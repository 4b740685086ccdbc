"""``provider`` preferences on every surface: ``max_price`` entries are numbers (or numeric
strings) in [0, 10^12] USD. "NaN" (``decimal.InvalidOperation``) and "1e999999999"
(``decimal.Overflow``) were HTML 500s, and -1 filtered every model away (503
``no_route_available``); each is now 400 naming the entry, before the hold."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import ApiClient
from tests.validation.world import (
    CLAUDE,
    EMBED,
    GPT,
    World,
    assert_anthropic_invalid,
    assert_openai_invalid,
)

pytestmark = pytest.mark.usefixtures("transactional_db")

HI = [{"role": "user", "content": "hi"}]
SURFACES: dict[str, tuple[str, dict[str, Any]]] = {
    "chat": ("/v1/chat/completions", {"model": GPT, "messages": HI}),
    "chat-claude": ("/v1/chat/completions", {"model": CLAUDE, "messages": HI}),
    "completions": ("/v1/completions", {"model": GPT, "prompt": "hi"}),
    "responses": ("/v1/responses", {"model": GPT, "input": "hi"}),
    "messages": ("/v1/messages", {"model": CLAUDE, "max_tokens": 8, "messages": HI}),
    "embeddings": ("/v1/embeddings", {"model": EMBED, "input": "hi"}),
}
BAD_PRICES = ["NaN", "nan", "Infinity", "-inf", "1e999999999", -1, "-0.5", "cheap", True, [1]]


@pytest.mark.parametrize("price", BAD_PRICES, ids=[repr(p) for p in BAD_PRICES])
@pytest.mark.parametrize("surface", list(SURFACES))
def test_a_bad_max_price_is_400_on_every_surface(
    api: ApiClient, world: World, surface: str, price: Any
) -> None:
    path, body = SURFACES[surface]
    # when the request's max prompt price is not a usable number
    request = {**body, "provider": {"max_price": {"prompt": price}}}
    resp = api.post(path, request, account=world.account)
    # then it is refused naming the entry, and nothing was held, charged or sent
    param = "provider.max_price.prompt"
    if surface == "messages":
        assert_anthropic_invalid(resp, param)
    else:
        assert_openai_invalid(resp, param)
    world.assert_untouched()


@pytest.mark.parametrize(
    ("prefs", "param"),
    [
        ({"max_price": "cheap"}, "provider.max_price"),
        ({"order": "fake"}, "provider.order"),
        ({"only": ["fake", 5]}, "provider.only[1]"),
        ({"ignore": ["\x00"]}, "provider.ignore[0]"),
        ({"sort": ["price"]}, "provider.sort"),
        ({"allow_fallbacks": "no"}, "provider.allow_fallbacks"),
    ],
)
def test_malformed_provider_fields_are_400(
    api: ApiClient, world: World, prefs: dict[str, Any], param: str
) -> None:
    resp = api.post(
        "/v1/chat/completions",
        {"model": GPT, "messages": HI, "provider": prefs},
        account=world.account,
    )
    assert_openai_invalid(resp, param)
    world.assert_untouched()


@pytest.mark.parametrize(("price", "status"), [(20, 200), ("20", 200), (0, 404), ("1e12", 200)])
def test_a_usable_max_price_filters_as_before(
    api: ApiClient, world: World, price: Any, status: int
) -> None:
    # given the model's prompt price of 20 credits a token (USD 20 per 1M tokens)
    request = {"model": GPT, "messages": HI, "provider": {"max_price": {"prompt": price}}}
    # when the limit is at or above it (or zero: below it)
    resp = api.post("/v1/chat/completions", request, account=world.account)
    # then the model is used, or there is no route within the limit
    assert resp.status_code == status, resp.content
    if status == 404:
        assert resp.json()["error"]["code"] == "no_matching_route"


@pytest.mark.parametrize("prefix", ["/v1", "/api/v1"])
def test_a_nul_in_a_generation_id_is_400(api: ApiClient, world: World, prefix: str) -> None:
    # when the request log is asked for an id holding a NUL byte (it reached PostgreSQL)
    resp = api.get(f"{prefix}/generation?id=gen-%00", account=world.account)
    # then it is refused naming the id
    assert_openai_invalid(resp, "id")
