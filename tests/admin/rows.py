"""The admin tests' rows: a registry (provider, model, alias, route) and a customer with a
little of everything, so each admin page has rows to render. tests/admin/conftest.py makes
them for each test."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import Group

from accounts.models import ApiKey, User
from accounts.services import apikey_create, user_create
from billing.services import credits_grant, credits_reserve
from catalog.models import Model, ModelAlias, Provider, Route
from gateway.models import Generation, RateCounter
from tests.billing.payments.rows import payment_rows_create


@dataclass
class Registry:
    provider: Provider
    model: Model
    route: Route


def registry_create() -> Registry:
    """A provider, a priced model with an alias, and its one route."""
    provider = Provider.objects.create(
        slug="acme",
        name="Acme",
        dialect="openai",
        base_url="https://acme.test/v1",
        api_key_env="ACME_TEST_API_KEY",
    )
    model = Model.objects.create(
        public_id="acme/small",
        name="Acme Small",
        price_prompt=Decimal("1.32"),
        price_completion=Decimal("7.92"),
    )
    ModelAlias.objects.create(model=model, alias="small")
    route = Route.objects.create(model=model, provider=provider, upstream_model="small-v1")
    return Registry(provider=provider, model=model, route=route)


@dataclass
class Customer:
    user: User
    key: ApiKey
    secret: str


def customer_create(registry: Registry) -> Customer:
    """A user with credits, a limited key, a request on the log, a hold, a rate counter
    (and a staff group)."""
    user = user_create(email="customer@example.com", password="irrelevant-pass-2")
    credits_grant(user_id=user.pk, amount=3_000_000, memo="test")
    created = apikey_create(user=user, name="ci", monthly_limit=1_000_000)
    credits_reserve(
        account_id=user.credit_account.pk,
        api_key_id=created.api_key.pk,
        monthly_limit=1_000_000,
        amount=1_000,
        request_id="req-held",
        ttl_seconds=300,
    )
    Generation.objects.create(
        request_id="req-1",
        user=user,
        api_key=created.api_key,
        model="acme/small",
        route=registry.route,
        provider="acme",
        surface="chat.completions",
        status="success",
        http_status=200,
        prompt_tokens=10,
        completion_tokens=5,
        cost=150,
        latency_ms=42,
    )
    Group.objects.create(name="support")
    RateCounter.objects.create(api_key_id=created.api_key.pk, tat=1_700_000_000_000_000)
    payment_rows_create(user=user)
    return Customer(user=user, key=created.api_key, secret=created.secret)
