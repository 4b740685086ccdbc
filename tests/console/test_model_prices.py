"""GET /v1/models prints prices positionally, without exponents or trailing zeros."""

from __future__ import annotations

from decimal import Decimal

from django.test import Client

from accounts.services import apikey_create, user_create
from catalog.models import Model


def test_model_prices_are_plain_decimal_strings(db: None) -> None:
    # given prices stored with nine decimal places, and one of zero
    Model.objects.create(
        public_id="acme/priced",
        name="Priced",
        price_prompt=Decimal("1.320000000"),
        price_completion=Decimal("100"),
        price_cache_read=Decimal("0.000000100"),
        price_request=Decimal("0E-9"),
        price_image=Decimal("0.02"),
    )
    secret = apikey_create(user=user_create(email="p@example.com")).secret
    # when a client lists the models
    resp = Client().get("/v1/models", HTTP_AUTHORIZATION=f"Bearer {secret}")
    entry = next(m for m in resp.json()["data"] if m["id"] == "acme/priced")
    # then USD per token and credits per token read as plain decimals
    assert entry["pricing"] == {
        "prompt": "0.00000132",
        "completion": "0.0001",
        "input_cache_read": "0.0000000000001",
        "request": "0",
        "image": "0.02",
    }
    credits = {k: v for k, v in entry["pricing_credits"].items() if k != "unit"}
    assert credits == {
        "prompt": "1.32",
        "completion": "100",
        "input_cache_read": "0.0000001",
        "request": "0",
        "image": "20000",
    }
