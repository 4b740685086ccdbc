"""Django admin in a real browser (Playwright driving Debian's chromium) at 1280 px: every
list page shows all its columns (the table is no wider than its box, so nothing scrolls
sideways), and the busy lists and the model form are kept as screenshots (the folder is
printed; TEST_ARTIFACTS chooses it)."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiKey
from accounts.services import apikey_create, apikey_revoke, user_create
from billing.services import credits_grant
from catalog.models import Model
from gateway.models import Generation
from tests.admin.rows import customer_create, registry_create

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", "var/test-artifacts")) / "admin"
SHOTS = {
    "gateway_generation": "generations",
    "billing_ledgerentry": "ledger",
    "catalog_model": "models",
    "accounts_apikey": "keys",
    "billing_payment": "payments",
}
FITS = """() => {
  const table = document.querySelector('#result_list');
  if (!table) return {table: 0, box: 0, page: 0};
  const box = table.closest('.results') || table.parentElement;
  return {table: table.scrollWidth, box: box.clientWidth,
          page: document.documentElement.scrollWidth - document.documentElement.clientWidth};
}"""

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
    pytest.mark.django_db(transaction=True),
]


def _busy_rows() -> None:
    """The admin tests' rows, and enough of the wide kind (long ids, emails, memos) that a
    list would overflow if its cells did not stay compact."""
    customer = customer_create(registry_create())
    user = customer.user
    for n in range(8):
        Generation.objects.create(
            request_id="gen-" + secrets.token_hex(12),
            user=user,
            api_key=customer.key,
            model="acme/small",
            provider="acme",
            surface="chat.completions" if n % 2 else "responses",
            status="success" if n % 3 else "error",
            http_status=200 if n % 3 else 502,
            error_code="" if n % 3 else "provider_error",
            prompt_tokens=123_456 * n,
            completion_tokens=65_432 * n,
            cost=9_876_543 * n,
            latency_ms=12_345,
            is_streamed=bool(n % 2),
        )
        credits_grant(
            user_id=user.pk,
            amount=1_234_567 * (n + 1),
            memo="a fairly long memo that explains why these credits were granted " * 2,
            reference=f"admin:{secrets.token_hex(16)}:{n}",
        )
    apikey_revoke(api_key=customer.key, actor=None)
    apikey_create(user=user, name="production", monthly_limit=25_000_000)
    expired = apikey_create(user=user, name="trial", monthly_limit=None).api_key
    ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - dt.timedelta(days=1))
    Model.objects.filter(public_id="acme/small").update(
        input_modalities=["text", "image"],
        output_modalities=["text"],
        supported_parameters=["temperature", "max_tokens", "tools", "response_format"],
        price_cache_read=Decimal("0.132000000"),
        price_request=Decimal("0E-9"),
    )


def test_every_list_fits_at_1280(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots in {ARTIFACTS.resolve()}")
    _busy_rows()
    user_create(email="root@example.com", password="a long admin password 1", is_staff=True)
    model = Model.objects.get(public_id="acme/small")
    names = sorted(f"{m._meta.app_label}_{m._meta.model_name}" for m in admin.site._registry)
    widths: dict[str, dict[str, int]] = {}
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        # given a superuser signed in to the admin
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("input[name=username]", "root@example.com")
        page.fill("input[name=password]", "a long admin password 1")
        page.click("input[type=submit]")
        assert page.title().endswith("LLM API gateway admin")
        # when they open every list page
        for name in names:
            page.goto(live_server.url + reverse(f"admin:{name}_changelist"))
            widths[name] = page.evaluate(FITS)
            if name in SHOTS:
                page.screenshot(path=str(ARTIFACTS / f"{SHOTS[name]}-1280.png"), full_page=True)
        page.goto(live_server.url + reverse("admin:catalog_model_change", args=[model.pk]))
        page.screenshot(path=str(ARTIFACTS / "model-form-1280.png"), full_page=True)
        checkboxes = page.locator("input[name=output_modalities][type=checkbox]").count()
        checked = page.locator("input[name=input_modalities]:checked").count()
        params = page.locator("textarea[name=supported_parameters]").input_value()
        browser.close()
    # then each table fits in its box, and the page does not scroll sideways
    too_wide = {n: w for n, w in widths.items() if w["table"] > w["box"] or w["page"] > 0}
    assert not too_wide, too_wide
    assert all(w["table"] > 0 for w in widths.values()), widths
    assert (checkboxes, checked) == (6, 2)
    assert params.split("\n") == ["temperature", "max_tokens", "tools", "response_format"]
