"""GET /v1/pricing (public: every enabled model's prices, the fallbacks, the minimum charge)
and GET /v1/models/catalog (a management key or staff: each model's routes with health)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import requests
from django.test import Client

from accounts.services import user_create
from catalog.models import Model, Provider, Route
from gateway.pipeline import health
from tests.factories import AccountFactory, ModelFactory
from tests.helpers import ApiClient, assert_error


@pytest.fixture
def registry(make_model: ModelFactory, provider: Provider) -> dict[str, Model]:
    chat = make_model(
        "test/chat",
        upstream_models=("chat-a", "chat-b"),
        prompt="1.5",
        completion="6.25",
        cache_read="0.15",
        request="0.0002",
        aliases=("chat",),
    )
    # null token prices: a text model is charged the fallback settings
    bare = make_model("test/bare", upstream_models=("bare",), prompt=None, completion=None)
    painter = make_model(
        "test/painter",
        upstream_models=("painter",),
        prompt="0",
        completion="0",
        request="0",
        price_image=Decimal("0.04"),
        output_modalities=["image"],
    )
    retired = make_model("test/retired", upstream_models=("retired",), is_enabled=False)
    return {"chat": chat, "bare": bare, "painter": painter, "retired": retired}


def token(credits: str) -> dict[str, str]:
    usd = Decimal(credits) / 1_000_000
    return {"unit": "token", "credits": credits, "usd": _text(usd), "usd_per_million": credits}


def per(unit: str, credits: str) -> dict[str, str]:
    return {"unit": unit, "credits": credits, "usd": _text(Decimal(credits) / 1_000_000)}


def _text(value: Decimal) -> str:
    return "0" if not value else format(value.normalize(), "f")


def test_pricing_lists_exactly_the_enabled_models_at_their_prices(
    api: ApiClient, registry: dict[str, Model], settings: Any
) -> None:
    # given the fallback token prices and the minimum charge of this deployment
    settings.BILLING_FALLBACK_PROMPT_PRICE = Decimal("0.05")
    settings.BILLING_FALLBACK_COMPLETION_PRICE = Decimal("0.2")
    settings.BILLING_MIN_CHARGE = 100
    # when anyone, with no key, asks for the prices
    resp = api.get("/v1/pricing")
    # then they are the rows' prices, exact, in credits and USD per unit
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["object"] == "pricing" and body["credits_per_usd"] == 1_000_000
    assert body["minimum_charge"] == {"credits": 100, "usd": "0.0001"}
    assert body["fallback"] == {"prompt": token("0.05"), "completion": token("0.2")}
    models = {m["id"]: m for m in body["data"]}
    assert list(models) == ["test/bare", "test/chat", "test/painter"]  # no test/retired
    # 1.5 USD / 1M tokens is 1.5 credits a token, 0.0000015 USD
    assert models["test/chat"] == {
        "id": "test/chat",
        "name": "test/chat",
        "is_free": False,
        "prices": {
            "prompt": token("1.5"),
            "completion": token("6.25"),
            "input_cache_read": token("0.15"),
            "request": per("request", "200"),
            "image": per("image", "0"),
        },
    }
    assert models["test/bare"]["prices"]["prompt"] == token("0.05")
    assert models["test/bare"]["prices"]["completion"] == token("0.2")
    assert models["test/bare"]["prices"]["input_cache_read"] == token("0.05")
    assert models["test/painter"]["prices"]["image"] == per("image", "40000")
    assert models["test/painter"]["prices"]["prompt"] == token("0")
    assert models["test/painter"]["is_free"] is False


def test_pricing_and_models_show_no_routes_to_consumers(
    api: ApiClient, registry: dict[str, Model]
) -> None:
    # when a consumer lists the models and the prices
    listed = api.get("/v1/models").json()["data"]
    priced = api.get("/v1/pricing").json()["data"]
    # then only public ids show: no upstream model names, no route
    for text in (str(listed), str(priced)):
        assert "chat-a" not in text and "chat-b" not in text and "routes" not in text
    assert {m["id"] for m in listed} == {"test/bare", "test/chat", "test/painter"}
    assert api.get("/v1/models/chat").json()["id"] == "test/chat"  # an alias still resolves


def test_pricing_refuses_other_methods_and_ignores_a_bad_key(api: ApiClient, db: None) -> None:
    assert api.get("/v1/pricing", HTTP_AUTHORIZATION="Bearer sk-nonsense").status_code == 200
    assert api.post("/v1/pricing", {"x": 1}).status_code == 405
    assert api.get("/v1/pricing?x=%00").status_code == 200


def test_catalog_refuses_an_inference_key_and_anonymous(
    api: ApiClient, registry: dict[str, Model], make_account: AccountFactory
) -> None:
    inference = make_account()
    assert_error(api.get("/v1/models/catalog", account=inference), 403, "management_key_required")
    assert_error(api.get("/v1/models/catalog"), 401, "invalid_api_key")
    bad = api.get("/v1/models/catalog", HTTP_AUTHORIZATION="Bearer sk-nonsense")
    assert_error(bad, 401, "invalid_api_key")
    # a plain user's session is no staff session
    plain = user_create(email="plain@example.com", password="irrelevant-pass-9")
    client = Client()
    client.force_login(plain)
    assert client.get("/v1/models/catalog").status_code == 401


def test_catalog_shows_each_models_routes_with_health_after_a_breaker_opens(
    api: ApiClient, registry: dict[str, Model], make_account: AccountFactory, settings: Any
) -> None:
    # given a management key, a disabled route, and chat-a's breaker opened by 3 failures
    management = make_account(credits=0, kind="management")
    settings.GATEWAY_CIRCUIT_FAILURES = 3
    Route.objects.filter(upstream_model="chat-b").update(is_enabled=False)
    first = Route.objects.get(upstream_model="chat-a")
    for _ in range(3):
        health.route_record(first.pk, ok=False, now=4_102_444_800.0)  # 2100-01-01 UTC
    health.route_record(Route.objects.get(upstream_model="bare").pk, ok=False)
    health.health_cache_clear()
    # when it reads the catalog
    resp = api.get("/v1/models/catalog", account=management)
    # then every model shows with its routes, in routing order, with their health
    assert resp.status_code == 200, resp.content
    models = {m["id"]: m for m in resp.json()["data"]}
    assert list(models) == ["test/bare", "test/chat", "test/painter", "test/retired"]
    chat = models["test/chat"]
    assert (chat["enabled"], chat["aliases"]) == (True, ["chat"])
    assert chat["routes"] == [
        {
            "id": first.pk,
            "provider": "fake",
            "provider_enabled": True,
            "upstream_model": "chat-a",
            "priority": 100,
            "weight": 1,
            "enabled": True,
            "health": {"state": "open", "failures": 0, "open_until": "2100-01-01T00:00:30Z"},
        },
        {
            "id": Route.objects.get(upstream_model="chat-b").pk,
            "provider": "fake",
            "provider_enabled": True,
            "upstream_model": "chat-b",
            "priority": 99,
            "weight": 1,
            "enabled": False,
            "health": {"state": "closed", "failures": 0, "open_until": None},
        },
    ]
    bare = models["test/bare"]["routes"][0]["health"]
    assert bare == {"state": "closed", "failures": 1, "open_until": None}
    assert models["test/retired"]["enabled"] is False


@pytest.mark.django_db(transaction=True)
def test_catalog_takes_a_staff_session_through_the_api_chain(
    live_server: Any, provider: Provider, make_model: ModelFactory
) -> None:
    # given a staff user signed in (the console's session cookie) and a model
    make_model("test/chat", upstream_models=("chat-a",))
    staff = user_create(email="root@example.com", password="irrelevant-pass-1", is_staff=True)
    client = Client()
    client.force_login(staff)
    cookie = {"sessionid": client.cookies["sessionid"].value}
    # when it reads the catalog over HTTP (the API's middleware chain: no sessions there)
    resp = requests.get(f"{live_server.url}/v1/models/catalog", cookies=cookie, timeout=10)
    # then it is served
    assert resp.status_code == 200, resp.text
    assert [m["id"] for m in resp.json()["data"]] == ["test/chat"]
    assert resp.json()["data"][0]["routes"][0]["upstream_model"] == "chat-a"
    # and a forged cookie is not
    bad = requests.get(
        f"{live_server.url}/v1/models/catalog", cookies={"sessionid": "x" * 32}, timeout=10
    )
    assert bad.status_code == 401
