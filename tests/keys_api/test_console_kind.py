"""The console's new key form in chromium: the kind chosen, an inference key's own fields
hidden while management is chosen, the management key made and listed with its kind; the
keys page and the form at 1280 and 390 px (screenshots kept, no sideways scroll, axe clean)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from accounts.models import ApiKey, ApiKeyEvent
from accounts.services import apikey_create, user_create
from tests.e2e.pages import check, severe

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", "var/test-artifacts")) / "keys"
PASSWORD = "a long enough password 1"

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
    pytest.mark.django_db(transaction=True),
]


def test_a_management_key_from_the_console(
    live_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    user = user_create(email="kinds@example.com", password=PASSWORD)
    apikey_create(user=user, name="laptop", monthly_limit=2_000_000, limit_reset="never")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots in {ARTIFACTS.resolve()}")
    base = live_server.url
    results: dict[str, dict[str, Any]] = {}
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/accounts/login/")
        page.fill("input[name=username]", user.email)
        page.fill("input[name=password]", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url(f"{base}/")
        page.goto(f"{base}/keys/")
        assert page.locator("[data-kind-only=inference]").is_visible()
        results["keys-form-inference"] = check(page, ARTIFACTS, "keys-form-inference")
        page.check("input[name=kind][value=management]")
        assert not page.locator("[data-kind-only=inference]").is_visible()
        assert page.locator("input[name=allowed_ips]").is_visible()
        assert page.locator("input[name=expires_on]").is_visible()
        results["keys-form-management"] = check(page, ARTIFACTS, "keys-form-management")
        page.fill("input[name=name]", "provisioner")
        page.click("form.stacked button[type=submit]")
        page.wait_for_url(f"{base}/keys/")
        assert page.locator("#new-secret").count() == 1
        row = page.locator("#keys tr", has_text="provisioner")
        assert row.locator("td[data-label=Kind]").inner_text() == "management"
        assert "in all (never resets)" in page.locator("#keys tr", has_text="laptop").inner_text()
        results["keys-list"] = check(page, ARTIFACTS, "keys-list")
        browser.close()
    key = ApiKey.objects.get(name="provisioner")
    assert (key.kind, key.monthly_limit, key.allowed_models) == ("management", None, [])
    assert ApiKeyEvent.objects.filter(api_key=key, kind="created", actor=user).count() == 1
    assert {name: r["overflow"] for name, r in results.items()} == dict.fromkeys(results, 0)
    assert severe(results) == {}
