"""``GET /v1/credits`` (any key of the account) and ``GET /v1/credits/packs`` (public)."""

from __future__ import annotations

from typing import Any

import pytest

from billing.models import LedgerEntry
from billing.models_payments import TopUpPack
from billing.services import credits_grant


def test_packs_are_public_with_their_bonus(db: None, api: Any) -> None:
    TopUpPack.objects.create(slug="ten", name="Ten", price_usd="10.00", credits=10_000_000)
    TopUpPack.objects.create(
        slug="k", name="Thousand", price_usd="1000.00", credits=1_120_000_000, sort_order=2
    )
    TopUpPack.objects.create(
        slug="old", name="Old", price_usd="1.00", credits=1_000_000, is_active=False
    )
    response = api.get("/v1/credits/packs")
    assert response.status_code == 200
    assert response.json() == {
        "data": [
            {
                "id": "ten",
                "name": "Ten",
                "description": "",
                "price_usd": "10.00",
                "credits": 10_000_000,
                "bonus_credits": 0,
            },
            {
                "id": "k",
                "name": "Thousand",
                "description": "",
                "price_usd": "1000.00",
                "credits": 1_120_000_000,
                "bonus_credits": 120_000_000,
            },
        ]
    }
    assert api.get("/api/v1/credits/packs").status_code == 200


def test_credits_in_usd_and_exact_credits(make_account: Any, api: Any) -> None:
    # given 10,000,000 granted by the fixture, 2,500,000 bought, 1,500,000 refunded,
    # 750,000 used
    account = make_account(10_000_000)
    user_id = account.user.pk
    credits_grant(
        user_id=user_id, amount=2_500_000, kind=LedgerEntry.Kind.PURCHASE, reference="p-1"
    )
    credits_grant(user_id=user_id, amount=-1_500_000, kind=LedgerEntry.Kind.REFUND, reference="r-1")
    credits_grant(user_id=user_id, amount=-750_000, kind=LedgerEntry.Kind.USAGE, reference="u-1")
    response = api.get("/v1/credits", account=account)
    assert response.status_code == 200
    assert response.json()["data"] == {
        "total_credits": 11.0,
        "total_usage": 0.75,
        "balance": 10_250_000,
        "held": 0,
        "available": 10_250_000,
        "tier": "payg",
    }


@pytest.mark.parametrize("headers", [{}, {"HTTP_AUTHORIZATION": "Bearer sk-nope"}])
def test_credits_need_a_key(db: None, api: Any, headers: dict[str, str]) -> None:
    response = api.get("/v1/credits", **headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_the_tier_caps_keys_and_their_rate_limit_in_the_console(db: None, settings: Any) -> None:
    from django.test import Client

    from accounts.models import ApiKey
    from accounts.services import user_create
    from billing.models_payments import BillingProfile
    from billing.tiers import tiers_all

    # given a Pay-as-you-go account (5 keys, 60 requests/min per key)
    payg = tiers_all()[0]
    user = user_create(email="tier@example.com")
    client = Client()
    client.force_login(user)
    # when it asks for a key above the tier's rate limit: refused, nothing created
    page = client.post("/keys/", {"name": "fast", "rate_limit_rpm": "61"})
    assert page.status_code == 200
    assert b"at most 60 requests per minute" in page.content
    assert ApiKey.objects.filter(user=user).count() == 0
    # and the sixth key is refused
    for n in range(payg.max_keys):  # each created: 303 to the page showing it
        assert client.post("/keys/", {"name": f"k{n}", "rate_limit_rpm": "60"}).status_code == 303
    assert ApiKey.objects.filter(user=user).count() == payg.max_keys
    page = client.post("/keys/", {"name": "one-too-many"})
    assert b"allows 5 keys" in page.content
    assert ApiKey.objects.filter(user=user).count() == payg.max_keys
    # when an admin sets Builder, the limits rise
    BillingProfile.objects.create(account=user.credit_account, tier="builder")
    client.post("/keys/", {"name": "builder", "rate_limit_rpm": "600"})
    assert ApiKey.objects.get(user=user, name="builder").rate_limit_rpm == 600
    # and a key asking for no rate limit gets the tier's highest, not an unlimited one
    client.post("/keys/", {"name": "unset", "rate_limit_rpm": ""})
    assert ApiKey.objects.get(user=user, name="unset").rate_limit_rpm == 600
