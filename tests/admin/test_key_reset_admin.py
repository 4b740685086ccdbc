"""The admin's key form sets the reset period of the key's spend limit, audited; an unknown
period is refused next to the field."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from accounts.models import ApiKeyEvent
from tests.admin.rows import Customer


def _post(client: Client, customer: Customer, reset: str):
    key = customer.key
    return client.post(
        reverse("admin:accounts_apikey_change", args=[key.pk]),
        {
            "name": key.name,
            "monthly_limit": "2000000",
            "limit_reset": reset,
            "allowed_models": "[]",
            "allowed_ips": "[]",
            "rate_limit_rpm": "60",
            "expires_at_0": "",
            "expires_at_1": "",
            "events-TOTAL_FORMS": "0",
            "events-INITIAL_FORMS": "0",
        },
    )


def test_the_admin_sets_a_weekly_reset_with_an_audit_row(
    staff_client: Client, customer: Customer
) -> None:
    page = staff_client.get(reverse("admin:accounts_apikey_change", args=[customer.key.pk]))
    assert 'name="limit_reset"' in page.content.decode()
    resp = _post(staff_client, customer, "weekly")
    assert resp.status_code == 302, resp.content[:2000]
    customer.key.refresh_from_db()
    assert (customer.key.limit_reset, customer.key.limit_period) == ("weekly", "week")
    event = ApiKeyEvent.objects.get(api_key=customer.key, kind=ApiKeyEvent.Kind.UPDATED)
    assert "limit_reset" in event.detail["fields"]


def test_the_admin_refuses_an_unknown_reset(staff_client: Client, customer: Customer) -> None:
    resp = _post(staff_client, customer, "yearly")
    assert resp.status_code == 200 and "Select a valid choice" in resp.content.decode()
    customer.key.refresh_from_db()
    assert customer.key.limit_reset == "monthly"
