"""GET /v1/models (the public, OpenRouter-style catalogue) and GET /v1/key (what a key may
still spend)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from tests.factories import AccountFactory, ModelFactory
from tests.helpers import ApiClient, assert_error, chat_body, rate_counters_clear

PLAIN_DECIMAL = re.compile(r"^\d+(\.\d+)?$")


@pytest.fixture
def catalogue(make_model: ModelFactory) -> None:
    make_model(
        "test/chat",
        prompt="1.5",
        completion="6.25",
        cache_read="0.15",
        request="0.0002",
        context_length=32_000,
        max_output_tokens=4_000,
        input_modalities=["text", "image"],
        output_modalities=["text"],
        supported_parameters=["temperature", "max_tokens", "tools"],
        description="A chat model",
    )
    make_model(
        "test/painter",
        upstream_models=("painter",),
        prompt="0",
        completion="0",
        request="0",
        price_image=Decimal("0.04"),
        output_modalities=["image"],
    )
    make_model("test/retired", upstream_models=("retired",), is_enabled=False)


def listed(api: ApiClient, query: str = "") -> dict[str, dict[str, Any]]:
    resp = api.get("/v1/models" + query)
    assert resp.status_code == 200, resp.content
    assert resp["X-Request-Id"].startswith("gen-")
    body = resp.json()
    assert body["object"] == "list"
    return {m["id"]: m for m in body["data"]}


@pytest.mark.usefixtures("catalogue")
def test_models_lists_enabled_models_with_openrouter_fields(api: ApiClient) -> None:
    # when anyone (no key needed) lists the models
    models = listed(api)
    # then the disabled model is absent and each entry carries the OpenRouter-style fields
    assert sorted(models) == ["test/chat", "test/painter"]
    chat = models["test/chat"]
    assert chat["name"] == "test/chat"
    assert chat["description"] == "A chat model"
    assert chat["context_length"] == 32_000
    assert chat["architecture"] == {
        "modality": "text+image->text",
        "input_modalities": ["text", "image"],
        "output_modalities": ["text"],
    }
    assert chat["supported_parameters"] == ["temperature", "max_tokens", "tools"]
    assert chat["endpoint"] == "/v1/chat/completions"
    assert chat["top_provider"]["max_completion_tokens"] == 4_000
    assert chat["providers"] == ["fake"]
    assert isinstance(chat["created"], int) and chat["created"] > 0


@pytest.mark.usefixtures("catalogue")
def test_model_prices_are_usd_per_token_as_plain_decimal_strings(api: ApiClient) -> None:
    models = listed(api)
    pricing = models["test/chat"]["pricing"]
    # 1.5 USD per 1M tokens is 0.0000015 USD per token; 0.0002 USD per request as is
    assert {k: Decimal(v) for k, v in pricing.items()} == {
        "prompt": Decimal("0.0000015"),
        "completion": Decimal("0.00000625"),
        "input_cache_read": Decimal("0.00000015"),
        "request": Decimal("0.0002"),
        "image": Decimal(0),
    }
    painter = models["test/painter"]["pricing"]
    assert Decimal(painter["image"]) == Decimal("0.04")
    assert Decimal(painter["prompt"]) == 0
    for model in models.values():
        for value in model["pricing"].values():
            assert PLAIN_DECIMAL.match(value), value


@pytest.mark.usefixtures("catalogue")
def test_models_filter_by_output_modality(api: ApiClient) -> None:
    images = listed(api, "?output_modalities=image")
    assert sorted(images) == ["test/painter"]
    assert images["test/painter"]["endpoint"] == "/v1/images/generations"
    assert sorted(listed(api, "?output_modalities=text")) == ["test/chat"]
    assert listed(api, "?output_modalities=video") == {}


@pytest.mark.usefixtures("catalogue")
def test_models_unknown_modality_is_invalid_parameter(api: ApiClient) -> None:
    resp = api.get("/v1/models?output_modalities=smell")
    assert_error(resp, 400, "invalid_parameter", "output_modalities")


@pytest.mark.usefixtures("catalogue")
def test_models_also_under_api_v1(api: ApiClient) -> None:
    resp = api.get("/api/v1/models")
    assert resp.status_code == 200
    assert sorted(m["id"] for m in resp.json()["data"]) == ["test/chat", "test/painter"]


@pytest.mark.usefixtures("catalogue")
def test_one_model_by_id_or_alias_is_its_list_entry(api: ApiClient, make_model: ModelFactory):
    make_model("test/aliased", upstream_models=("a",), aliases=("short-name",))
    entries = listed(api)
    for prefix in ("/v1", "/api/v1"):
        for path, model_id in (("test/chat", "test/chat"), ("short-name", "test/aliased")):
            resp = api.get(f"{prefix}/models/{path}")
            assert resp.status_code == 200, resp.content
            assert resp.json() == entries[model_id]


@pytest.mark.usefixtures("catalogue")
def test_a_disabled_or_unknown_model_is_not_found(api: ApiClient) -> None:
    for name in ("test/retired", "test/nothing", "nothing"):
        assert_error(api.get(f"/v1/models/{name}"), 404, "model_not_available", "model")


def test_key_shows_limit_usage_and_spendable_after_a_billed_request(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory
) -> None:
    # given a key limited to 5,000 credits a month on an account of 1,000,000 credits
    make_model("test/echo", prompt="30", completion="70")
    expires = timezone.now() + dt.timedelta(days=30)
    account = make_account(1_000_000, monthly_limit=5_000, rate_limit_rpm=60, expires_at=expires)
    rate_counters_clear(account.key.pk)
    # when one request is billed (10 x 30 + 4 x 70 = 580 credits)
    resp = api.post("/v1/chat/completions", chat_body(), account=account)
    assert resp.status_code == 200, resp.content
    assert resp.json()["usage"]["cost"] == 580
    info = api.get("/v1/key", account=account)
    # then the key reports it, and the key's limit is what binds
    assert info.status_code == 200, info.content
    assert info["X-Request-Id"].startswith("gen-")
    data = info.json()["data"]
    assert data["limit"] == 0.005 and data["limit_credits"] == 5_000
    assert data["usage_credits"] == data["usage_monthly_credits"] == 580
    assert data["usage"] == data["usage_daily"] == data["usage_monthly"] == 0.00058
    assert data["held"] == 0
    assert data["limit_remaining_credits"] == 5_000 - 580 and data["limit_remaining"] == 0.00442
    assert data["limit_reset"] == "monthly" and data["is_management_key"] is False
    assert data["balance"] == 1_000_000 - 580
    assert data["available"] == 1_000_000 - 580
    assert data["spendable"] == min(5_000 - 580, 1_000_000 - 580) == 4_420
    assert data["rate_limit"] == {"requests": 60, "interval": "1m"}
    assert dt.datetime.fromisoformat(data["expires_at"]) == expires
    assert data["label"] == f"sk-{account.key.prefix}-…"
    assert account.secret not in info.content.decode()
    rate_counters_clear(account.key.pk)


def test_key_spendable_is_the_account_when_it_binds(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory
) -> None:
    # given a poor account behind a generous key
    make_model("test/echo", prompt="30", completion="70")
    account = make_account(2_000, monthly_limit=1_000_000)
    # when one request is billed
    assert api.post("/v1/chat/completions", chat_body(), account=account).status_code == 200
    data = api.get("/api/v1/key", account=account).json()["data"]
    # then
    assert data["usage_credits"] == 580
    assert data["limit_remaining_credits"] == 1_000_000 - 580
    assert data["balance"] == 2_000 - 580
    assert data["spendable"] == 2_000 - 580


def test_key_without_limits_shows_nulls(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory
) -> None:
    account = make_account(7_000, ignore_tier=True)  # no rate limit: only outside a tier
    data = api.get("/v1/key", account=account).json()["data"]
    assert data["limit"] is None and data["limit_remaining"] is None
    assert data["usage"] == 0 and data["usage_credits"] == 0 and data["limit_credits"] is None
    assert data["limit_reset"] is None
    assert data["balance"] == data["spendable"] == 7_000
    assert data["rate_limit"] is None and data["expires_at"] is None


def test_key_endpoint_needs_a_valid_key(api: ApiClient, make_account: AccountFactory) -> None:
    assert_error(api.get("/v1/key"), 401, "invalid_api_key")
    account = make_account(1_000)
    account.user.is_api_enabled = False
    account.user.save(update_fields=["is_api_enabled"])
    assert_error(api.get("/v1/key", account=account), 403, "api_disabled")
