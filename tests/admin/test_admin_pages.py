"""Django admin: staff only, and every registered model's pages render."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.services import user_create
from billing.models import CreditAccount, LedgerEntry
from catalog.models import Model
from tests.admin.rows import Customer, Registry

REGISTERED = sorted(f"{m._meta.app_label}_{m._meta.model_name}" for m in admin.site._registry)


@pytest.mark.parametrize(
    "path", ["/admin/", "/admin/catalog/model/", "/admin/billing/ledgerentry/"]
)
def test_admin_refuses_non_staff(db: None, path: str) -> None:
    # given a signed-in user who is not staff, and an anonymous visitor
    user = user_create(email="plain@example.com", password="irrelevant-pass-3")
    signed_in = Client()
    signed_in.force_login(user)
    for client in (signed_in, Client()):
        # when they open an admin page
        resp = client.get(path)
        # then they are sent to the admin login
        assert resp.status_code == 302
        assert resp["Location"].startswith("/admin/login/")


def test_every_app_registers_its_models() -> None:
    expected = {
        "catalog_provider",
        "catalog_model",
        "catalog_modelalias",
        "catalog_route",
        "accounts_user",
        "accounts_apikey",
        "accounts_apikeyevent",
        "billing_creditaccount",
        "billing_ledgerentry",
        "billing_keyspend",
        "billing_hold",
        "gateway_generation",
    }
    assert expected <= set(REGISTERED)


@pytest.mark.parametrize("name", REGISTERED)
def test_changelist_and_change_pages_render_for_staff(
    staff_client: Client, customer: Customer, name: str
) -> None:
    # given rows in every table
    app_label, model_name = name.split("_", 1)
    model = next(
        m for m in admin.site._registry if m._meta.label_lower == f"{app_label}.{model_name}"
    )
    # when staff open the list, a search and the first row
    resp = staff_client.get(reverse(f"admin:{name}_changelist"))
    assert resp.status_code == 200, resp.content[:500]
    assert staff_client.get(reverse(f"admin:{name}_changelist") + "?q=x").status_code == 200
    obj = model._default_manager.order_by("pk").first()
    assert obj is not None, f"no {name} row to open"
    resp = staff_client.get(reverse(f"admin:{name}_change", args=[obj.pk]))
    # then both render
    assert resp.status_code == 200, resp.content[:500]


def test_model_change_page_shows_route_and_alias_inlines(
    staff_client: Client, registry: Registry
) -> None:
    resp = staff_client.get(reverse("admin:catalog_model_change", args=[registry.model.pk]))
    assert resp.status_code == 200
    body = resp.content.decode()
    assert 'name="routes-TOTAL_FORMS"' in body and 'value="small-v1"' in body
    assert 'name="aliases-TOTAL_FORMS"' in body and 'value="small"' in body


def test_add_pages_render_where_adding_is_allowed(staff_client: Client, db: None) -> None:
    for name in ("catalog_model", "catalog_provider", "catalog_route", "accounts_user"):
        assert staff_client.get(reverse(f"admin:{name}_add")).status_code == 200, name


def test_ledger_is_read_only_in_admin(staff_client: Client, customer: Customer) -> None:
    # given the ledger entry of the customer's grant
    entry = LedgerEntry.objects.filter(account__user=customer.user).first()
    # when staff try to add, change or delete entries
    add = staff_client.get(reverse("admin:billing_ledgerentry_add"))
    change = staff_client.post(
        reverse("admin:billing_ledgerentry_change", args=[entry.pk]), {"amount": "1"}
    )
    delete = staff_client.post(
        reverse("admin:billing_ledgerentry_delete", args=[entry.pk]), {"post": "yes"}
    )
    # then every attempt is refused and the entry is unchanged
    assert add.status_code == 403
    assert change.status_code == 403
    assert delete.status_code == 403
    entry.refresh_from_db()
    assert entry.amount == 3_000_000
    assert LedgerEntry.objects.filter(account__user=customer.user).count() == 1


def test_model_list_filters_by_output_modality(staff_client: Client, registry: Registry) -> None:
    # given a text model and an image model
    Model.objects.filter(pk=registry.model.pk).update(output_modalities=["text"])
    Model.objects.create(public_id="acme/painter", name="Painter", output_modalities=["image"])
    url = reverse("admin:catalog_model_changelist")
    # when staff filter on image output
    images = staff_client.get(url + "?output=image").content.decode()
    texts = staff_client.get(url + "?output=text").content.decode()
    # then each list holds only its kind
    assert "acme/painter" in images and "acme/small" not in images
    assert "acme/small" in texts and "acme/painter" not in texts


def test_staff_add_a_user_by_email_with_a_credit_account(staff_client: Client) -> None:
    resp = staff_client.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "Support@Example.com",
            "usable_password": "true",
            "password1": "correct-horse-battery-staple-7",
            "password2": "correct-horse-battery-staple-7",
        },
    )
    assert resp.status_code == 302, resp.content[:2000]
    user = User.objects.get(email="support@example.com")
    assert user.check_password("correct-horse-battery-staple-7")
    assert CreditAccount.objects.get(user=user).balance == 0
