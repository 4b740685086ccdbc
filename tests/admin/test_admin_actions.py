"""Admin actions: the whitelist reaches the gateway at once, keys are revoked with an audit
row and never shown, credits are granted through the ledger exactly once."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import ApiKey, ApiKeyEvent
from billing.models import CreditAccount, LedgerEntry
from catalog.models import Model, Provider
from catalog.selectors import model_resolve
from tests.admin.rows import Customer, Registry


def run_action(client: Client, name: str, action: str, pks: list[int], **extra: str):
    return client.post(
        reverse(f"admin:{name}_changelist"),
        {"action": action, "_selected_action": [str(pk) for pk in pks], **extra},
    )


@pytest.fixture
def cached_catalog(settings: Any) -> None:
    """A catalog snapshot that would live for an hour unless something drops it."""
    settings.GATEWAY_CATALOG_TTL_SECONDS = 3600.0


def test_model_disable_and_enable_reach_the_gateway_at_once(
    staff_client: Client, registry: Registry, cached_catalog: None
) -> None:
    # given the gateway has the enabled model in its snapshot
    assert model_resolve(name="small").is_enabled is True
    # when staff disable it with the bulk action
    resp = run_action(staff_client, "catalog_model", "disable", [registry.model.pk])
    # then the row and the gateway's view both say disabled
    assert resp.status_code == 302
    assert Model.objects.get(pk=registry.model.pk).is_enabled is False
    assert model_resolve(name="acme/small").is_enabled is False
    # and enabling it brings it back
    run_action(staff_client, "catalog_model", "enable", [registry.model.pk])
    assert Model.objects.get(pk=registry.model.pk).is_enabled is True
    assert model_resolve(name="small").is_enabled is True


def test_provider_disable_removes_its_routes_from_the_gateway(
    staff_client: Client, registry: Registry, cached_catalog: None
) -> None:
    assert [r.provider_slug for r in model_resolve(name="small").routes] == ["acme"]
    run_action(staff_client, "catalog_provider", "disable", [registry.provider.pk])
    assert Provider.objects.get(pk=registry.provider.pk).is_enabled is False
    assert model_resolve(name="small").routes == ()
    run_action(staff_client, "catalog_provider", "enable", [registry.provider.pk])
    assert len(model_resolve(name="small").routes) == 1


def test_route_disable_action_reaches_the_gateway(
    staff_client: Client, registry: Registry, cached_catalog: None
) -> None:
    assert len(model_resolve(name="small").routes) == 1
    run_action(staff_client, "catalog_route", "disable", [registry.route.pk])
    assert model_resolve(name="small").routes == ()


def test_list_editable_price_change_reaches_the_gateway(
    staff_client: Client, registry: Registry, cached_catalog: None
) -> None:
    # given the gateway quotes the old price
    assert model_resolve(name="small").prices.prompt == Decimal("1.32")
    model = registry.model
    # when staff edit the price in the list
    resp = staff_client.post(
        reverse("admin:catalog_model_changelist"),
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": str(model.pk),
            "form-0-price_prompt": "2.5",
            "form-0-price_completion": "7.92",
            "form-0-price_cache_read": "",
            "form-0-price_request": "",
            "form-0-price_image": "",
            "form-0-is_enabled": "on",
            "_save": "Save",
        },
    )
    # then the new price is served
    assert resp.status_code == 302, resp.content[:1000]
    assert model_resolve(name="small").prices.prompt == Decimal("2.5")


def test_provider_list_says_whether_the_key_is_set_never_its_value(
    staff_client: Client, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_TEST_API_KEY", "very-secret-upstream-value")
    body = staff_client.get(reverse("admin:catalog_provider_changelist")).content.decode()
    assert "ACME_TEST_API_KEY" in body
    assert "very-secret-upstream-value" not in body
    assert 'alt="True"' in body


def test_apikey_admin_never_shows_the_secret(staff_client: Client, customer: Customer) -> None:
    key = customer.key
    secret_part = customer.secret.split("-", 2)[2]  # after "sk-<prefix>-"; it may hold "-"
    pages = [
        staff_client.get(reverse("admin:accounts_apikey_changelist")),
        staff_client.get(reverse("admin:accounts_apikey_change", args=[key.pk])),
        staff_client.get(reverse("admin:accounts_apikeyevent_changelist")),
    ]
    for page in pages:
        body = page.content.decode()
        assert page.status_code == 200
        assert customer.secret not in body and secret_part not in body
    assert f"sk-{key.prefix}-" in pages[0].content.decode()
    # and no key can be added here (the secret would have to be shown)
    assert staff_client.get(reverse("admin:accounts_apikey_add")).status_code == 403


def test_apikey_admin_edits_limits_with_an_audit_row_but_not_the_hash(
    staff_client: Client, customer: Customer, staff
) -> None:
    key = customer.key
    resp = staff_client.post(
        reverse("admin:accounts_apikey_change", args=[key.pk]),
        {
            "name": "renamed",
            "monthly_limit": "2000000",
            "allowed_models": '["small"]',
            "allowed_ips": '["10.0.0.1"]',
            "rate_limit_rpm": "60",
            "expires_at_0": "",
            "expires_at_1": "",
            "secret_hash": "0" * 64,
            "prefix": "aaaaaaaaaaaa",
            "is_disabled": "on",
            "events-TOTAL_FORMS": "0",
            "events-INITIAL_FORMS": "0",
        },
    )
    assert resp.status_code == 302, resp.content[:2000]
    old_hash, old_prefix = key.secret_hash, key.prefix
    key.refresh_from_db()
    assert (key.name, key.monthly_limit, key.rate_limit_rpm) == ("renamed", 2_000_000, 60)
    assert key.allowed_ips == ["10.0.0.1/32"]
    assert (key.secret_hash, key.prefix, key.is_disabled) == (old_hash, old_prefix, False)
    event = ApiKeyEvent.objects.get(api_key=key, kind=ApiKeyEvent.Kind.UPDATED)
    assert event.actor == staff and "monthly_limit" in event.detail["fields"]


def test_apikey_revoke_action_disables_with_an_audit_row(
    staff_client: Client, customer: Customer, staff
) -> None:
    resp = run_action(staff_client, "accounts_apikey", "revoke", [customer.key.pk])
    assert resp.status_code == 302
    assert ApiKey.objects.get(pk=customer.key.pk).is_disabled is True
    event = ApiKeyEvent.objects.get(api_key=customer.key, kind=ApiKeyEvent.Kind.REVOKED)
    assert event.actor == staff
    # a second run finds nothing left to revoke and writes no second row
    run_action(staff_client, "accounts_apikey", "revoke", [customer.key.pk])
    assert ApiKeyEvent.objects.filter(kind=ApiKeyEvent.Kind.REVOKED).count() == 1


def test_grant_action_goes_through_the_ledger_once(
    staff_client: Client, customer: Customer
) -> None:
    account = CreditAccount.objects.get(user=customer.user)
    before = account.balance
    # when staff pick the action, they get a form with a one-time token
    form = run_action(staff_client, "billing_creditaccount", "grant_credits", [account.pk])
    assert form.status_code == 200
    token = re.search(r'name="token" value="([0-9a-f]+)"', form.content.decode()).group(1)
    data = {"apply": "1", "credits": "2500000", "kind": "grant", "memo": "goodwill", "token": token}
    # and submitting it (twice, as a double click would) grants once
    for _ in range(2):
        resp = run_action(
            staff_client, "billing_creditaccount", "grant_credits", [account.pk], **data
        )
        assert resp.status_code == 302
    account.refresh_from_db()
    assert account.balance == before + 2_500_000
    entry = LedgerEntry.objects.get(account=account, memo__startswith="goodwill")
    assert (entry.amount, entry.kind, entry.balance_after) == (2_500_000, "grant", account.balance)


def test_grant_action_cannot_take_away_more_than_available(
    staff_client: Client, customer: Customer
) -> None:
    account = CreditAccount.objects.get(user=customer.user)
    before = account.balance
    data = {"apply": "1", "credits": "-99000000", "kind": "adjustment", "memo": "x", "token": "t1"}
    resp = run_action(staff_client, "billing_creditaccount", "grant_credits", [account.pk], **data)
    assert resp.status_code == 302
    account.refresh_from_db()
    assert account.balance == before
