"""The admin's lists and model form: short headers with units, prices normalized, owners
by email rather than an account's balance, a key status column, modality checkboxes and a
parameter list that store the same JSON lists as before, and the product's name."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiKey
from accounts.services import apikey_create, apikey_revoke
from catalog.models import Model
from tests.admin.rows import Customer, Registry

HEADERS = {
    "accounts_apikey": [
        "Name",
        "Key",
        "Owner",
        "Status",
        "Expires",
        "Monthly limit",
        "Last used",
        "Created",
    ],
    "accounts_apikeyevent": ["Time", "Kind", "Api key", "Actor"],
    "accounts_user": ["Email", "Name", "Is staff", "Is active", "Is api enabled", "Balance"],
    "auth_group": ["Group"],
    "billing_autorecharge": [
        "Owner",
        "Is enabled",
        "Threshold",
        "Pack",
        "Declines in row",
        "Last error",
    ],
    "billing_billingprofile": ["Owner", "Tier", "Stripe customer id"],
    "billing_creditaccount": ["Owner", "Balance", "Held", "Available", "Is suspended", "Updated"],
    "billing_creditadjustment": [
        "Time",
        "Owner",
        "Amount",
        "Reason",
        "Staff user",
        "Ledger entry id",
    ],
    "billing_hold": ["Request id", "Owner", "Api key", "Amount", "Created", "Expires"],
    "billing_keyspend": ["Api key", "Owner", "Month", "Spent", "Held"],
    "billing_ledgerentry": [
        "Time",
        "Owner",
        "Kind",
        "Amount",
        "Balance after",
        "Key",
        "Memo / reference",
    ],
    "billing_payment": [
        "ID",
        "Time",
        "Owner",
        "Kind / description",
        "Paid → credits",
        "Status",
        "Refunded",
        "Shortfall / cleared",
        "Needs review",
    ],
    "billing_paymentdispute": [
        "Stripe dispute id",
        "Payment id",
        "Owner",
        "Status",
        "Opened",
        "Closed",
    ],
    "billing_stripeevent": ["Event id", "Type", "Received", "Processed", "Error / ignored"],
    "billing_suspensionclearance": ["Time", "Owner", "Staff user", "Shortfall cleared"],
    "billing_topuppack": [
        "Slug",
        "Name",
        "Price usd",
        "Credits (bonus included)",
        "Bonus",
        "Is active",
        "Sort order",
    ],
    "catalog_model": [
        "Public id",
        "Name",
        "Prompt USD / 1M tokens",
        "Completion USD / 1M tokens",
        "Other prices (USD / 1M tokens or per unit)",
        "Context",
        "In → out",
        "Is enabled",
    ],
    "catalog_modelalias": ["Alias", "Model"],
    "catalog_provider": [
        "Slug",
        "Name",
        "Dialect",
        "Base url",
        "Api key env",
        "Key set",
        "Is enabled",
    ],
    "catalog_route": [
        "Model",
        "Provider",
        "Upstream model",
        "Priority",
        "Weight",
        "Is enabled",
        "Health",
    ],
    "gateway_generation": [
        "Time",
        "Request id",
        "User",
        "Model / provider",
        "Surface",
        "Status",
        "Tokens in → out",
        "Cost",
        "Latency",
    ],
    "gateway_ratecounter": ["Api key id", "Next request allowed at"],
}


def headers(body: str) -> list[str]:
    """The column headers of the list (the select-all box has none)."""
    head = body.split('<table id="result_list">', 1)[1].split("</thead>", 1)[0]
    head = re.sub(r'<div class="sortoptions">.*?</div>', "", head, flags=re.S)
    cells = re.findall(r"<th[^>]*>(.*?)</th>", head, flags=re.S)
    texts = [re.sub(r"<[^>]+>|\s+", " ", c).strip() for c in cells]
    return [t for t in texts if t]


def rows(body: str) -> list[str]:
    table = body.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [re.sub(r"\s+", " ", r) for r in table.split("</tr>")[:-1]]


def test_every_registered_model_has_its_headers_here() -> None:
    registered = {f"{m._meta.app_label}_{m._meta.model_name}" for m in admin.site._registry}
    assert set(HEADERS) == registered


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_each_list_has_its_short_columns(
    staff_client: Client, customer: Customer, name: str
) -> None:
    resp = staff_client.get(reverse(f"admin:{name}_changelist"))
    assert resp.status_code == 200
    assert headers(resp.content.decode()) == HEADERS[name]


def test_model_prices_are_normalized_with_their_unit(
    staff_client: Client, registry: Registry
) -> None:
    # given prices as the database gives them back: 1.760000000, 0E-9, a per-unit price
    Model.objects.filter(pk=registry.model.pk).update(
        price_prompt=Decimal("1.760000000"),
        price_completion=Decimal("0E-9"),
        price_cache_read=Decimal("0.132000000"),
        price_image=Decimal("0.040000000"),
    )
    body = staff_client.get(reverse("admin:catalog_model_changelist")).content.decode()
    # then the list shows 1.76 and 0, and the other units with theirs
    assert 'name="form-0-price_prompt" value="1.76"' in body
    assert 'name="form-0-price_completion" value="0"' in body
    assert '<span class="unit">cache read 0.132 /1M</span>' in body
    assert '<span class="unit">image 0.04</span>' in body
    assert "0E-9" not in body and "1.760000000" not in body
    # and so does the model's page
    page = staff_client.get(reverse("admin:catalog_model_change", args=[registry.model.pk]))
    text = page.content.decode()
    assert 'name="price_prompt" value="1.76"' in text
    assert 'name="price_image" value="0.04"' in text
    assert "0E-9" not in text and "0.040000000" not in text


def test_ledger_names_the_owner_and_signs_the_amount(
    staff_client: Client, customer: Customer
) -> None:
    body = staff_client.get(reverse("admin:billing_ledgerentry_changelist")).content.decode()
    mine = [r for r in rows(body) if "customer@example.com" in r]
    assert len(mine) == 1
    row = mine[0]
    assert '<span class="money pos">+3,000,000 cr<small>$3.00</small></span>' in row
    # the account's str() (its current balance) is not what the row shows
    assert "credits (" not in row and "held)" not in row


def test_key_status_says_active_revoked_or_expired(
    staff_client: Client, customer: Customer
) -> None:
    # given a revoked key, an expired one and an active one
    apikey_revoke(api_key=customer.key, actor=None)
    expired = apikey_create(user=customer.user, name="old", ignore_tier=True).api_key
    ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    apikey_create(user=customer.user, name="live", ignore_tier=True)
    url = reverse("admin:accounts_apikey_changelist")
    body = staff_client.get(url).content.decode()
    status = {}
    for row in rows(body):
        name = re.search(r'<th class="field-name"><a [^>]*>([^<]+)</a>', row)
        state = re.search(r'<span class="key-status (\w+)">(\w+)</span>', row)
        assert name and state and state.group(1) == state.group(2)
        status[name.group(1)] = state.group(1)
    assert status == {"ci": "revoked", "old": "expired", "live": "active"}
    assert 'alt="True"' not in body  # no tick for a revoked key
    # and the status filter picks each kind
    for state, names in [("active", ["live"]), ("revoked", ["ci"]), ("expired", ["old"])]:
        filtered = staff_client.get(url + f"?status={state}").content.decode()
        shown = re.findall(r'<th class="field-name"><a [^>]*>([^<]+)</a>', filtered)
        assert shown == names


def _form_data(model: Model, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "public_id": model.public_id,
        "name": model.name,
        "description": "",
        "is_enabled": "on",
        "context_length": "128000",
        "max_output_tokens": "16384",
        "price_prompt": "1.32",
        "price_completion": "7.92",
        "aliases-TOTAL_FORMS": "0",
        "aliases-INITIAL_FORMS": "0",
        "routes-TOTAL_FORMS": "0",
        "routes-INITIAL_FORMS": "0",
        "_save": "Save",
    }
    data.update(changes)
    return data


def test_modality_and_parameter_widgets_store_the_same_json_lists(
    staff_client: Client, registry: Registry
) -> None:
    # given a model with lists, as the raw JSON boxes stored them
    model = registry.model
    Model.objects.filter(pk=model.pk).update(
        input_modalities=["text", "image"],
        output_modalities=["text"],
        supported_parameters=["temperature", "tools", "response_format"],
    )
    url = reverse("admin:catalog_model_change", args=[model.pk])
    page = staff_client.get(url).content.decode()
    # the page shows checkboxes (checked as stored) and one name per line
    assert re.search(r'type="checkbox" name="input_modalities" value="image"[^>]*checked', page)
    assert not re.search(r'name="output_modalities" value="image"[^>]*checked', page)
    assert ">\ntemperature\ntools\nresponse_format</textarea>" in page
    # when staff save it as shown, the lists are unchanged
    resp = staff_client.post(
        url,
        _form_data(
            model,
            input_modalities=["image", "text"],
            output_modalities=["text"],
            supported_parameters="temperature\ntools\nresponse_format",
        ),
    )
    assert resp.status_code == 302, resp.content[:2000]
    model.refresh_from_db()
    assert model.input_modalities == ["text", "image"]
    assert model.output_modalities == ["text"]
    assert model.supported_parameters == ["temperature", "tools", "response_format"]
    # and commas, blank lines and repeats give the same list too
    resp = staff_client.post(
        url,
        _form_data(
            model,
            output_modalities=["image"],
            supported_parameters="temperature, tools\n\n tools ,max_tokens",
        ),
    )
    assert resp.status_code == 302
    model.refresh_from_db()
    assert model.input_modalities == []
    assert model.output_modalities == ["image"]
    assert model.supported_parameters == ["temperature", "tools", "max_tokens"]


def test_bad_modality_or_parameter_is_an_error_on_its_field(
    staff_client: Client, registry: Registry
) -> None:
    model = registry.model
    url = reverse("admin:catalog_model_change", args=[model.pk])
    resp = staff_client.post(
        url,
        _form_data(model, output_modalities=["smell"], supported_parameters="top p, tools"),
    )
    # then the form comes back with both errors, and nothing is saved
    assert resp.status_code == 200
    errors = resp.context["adminform"].form.errors
    assert "Select a valid choice. smell is not one of the available choices." in str(
        errors["output_modalities"]
    )
    assert "Not a parameter name: top p." in str(errors["supported_parameters"])
    model.refresh_from_db()
    assert model.supported_parameters == []


def test_a_modality_outside_the_known_set_is_kept(staff_client: Client, registry: Registry) -> None:
    model = registry.model
    Model.objects.filter(pk=model.pk).update(input_modalities=["text", "pdf"])
    url = reverse("admin:catalog_model_change", args=[model.pk])
    page = staff_client.get(url).content.decode()
    assert re.search(r'name="input_modalities" value="pdf"[^>]*checked', page)
    resp = staff_client.post(url, _form_data(model, input_modalities=["text", "pdf"]))
    assert resp.status_code == 302
    model.refresh_from_db()
    assert model.input_modalities == ["text", "pdf"]


def test_the_admin_is_titled_with_the_product_name(staff_client: Client, settings: object) -> None:
    body = staff_client.get(reverse("admin:index")).content.decode()
    assert "<title>Registry, money and requests | LLM API gateway admin</title>" in body
    assert '<div id="site-name"><a href="/admin/">LLM API gateway</a></div>' in body
    assert "Django administration" not in body and "Django site admin" not in body
    login = Client().get(reverse("admin:login")).content.decode()
    assert "LLM API gateway" in login and "Django" not in login
    assert "admin-overrides/admin.css" in body
