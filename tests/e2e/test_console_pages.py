"""Every console page in chromium at 1280 and 390 px: a screenshot of each kept as a test
artifact (var/test-artifacts/console/, the folder printed), no page scrolling sideways at
390 px, and axe-core finding no serious or critical accessibility violation. The Django
admin's login page and one list are checked the same way."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from accounts.services import apikey_create, user_create
from billing.models_payments import TopUpPack
from billing.services import credits_grant
from gateway.models import UsageDaily
from tests.e2e.pages import check, severe
from tests.factories import ModelFactory
from tests.usage.page_rows import generation_at

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", "var/test-artifacts")) / "console"
PASSWORD = "a long enough password 1"

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
    pytest.mark.django_db(transaction=True),
]


def seeded(make_model: ModelFactory) -> tuple[str, int, str]:
    """A user with credits, a key, two requests (one refused) and their rollup; a priced
    model; two packs. Returns the email, the key's id and the successful request's id."""
    make_model("acme/alpha", prompt="1250", completion="4000.5")
    make_model("beta/beta", prompt="3", completion="11")
    TopUpPack.objects.create(slug="ten", name="Ten", price_usd="10.00", credits=10_000_000)
    user = user_create(email="pages@example.com", password=PASSWORD)
    credits_grant(user_id=user.pk, amount=4_998_732, memo="test")
    key = apikey_create(user=user, name="laptop").api_key
    now = timezone.now() - dt.timedelta(minutes=5)
    done = generation_at(
        user, now, key=key, model="acme/alpha", prompt_tokens=20, completion_tokens=4, cost=41_002
    )
    generation_at(
        user,
        now - dt.timedelta(minutes=1),
        key=key,
        model="beta/beta",
        status="refused",
        http_status=402,
        error_code="insufficient_credits",
        cost=0,
    )
    # its rollup, as the settle writes it (whether or not generation_at adds to it)
    UsageDaily.objects.update_or_create(
        user=user,
        key_id=key.pk,
        model="acme/alpha",
        day=now.astimezone(dt.UTC).date(),
        defaults={"requests": 1, "prompt_tokens": 20, "completion_tokens": 4, "cost": 41_002},
    )
    return user.email, key.pk, done.request_id


def test_console_pages_fit_and_pass_axe(
    live_server: Any, make_model: ModelFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    email, key_id, request_id = seeded(make_model)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots in {ARTIFACTS.resolve()}")
    base = live_server.url
    signed_out = {
        "login": "/accounts/login/",
        "signup": "/accounts/signup/",
        "password-reset": "/accounts/password/reset/",
        "models": "/models/",
    }
    signed_in = {
        "dashboard": "/",
        "usage": "/usage/",
        "request-detail": f"/usage/requests/{request_id}/",
        "keys": "/keys/",
        "key-edit": f"/keys/{key_id}/edit/",
        "credits": "/credits/",
        "account": "/account/",
    }
    results: dict[str, dict[str, Any]] = {}
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for name, path in signed_out.items():
            page.goto(f"{base}{path}")
            results[f"e2e-{name}"] = check(page, ARTIFACTS, f"e2e-{name}")
        # a form with its errors shown beside the fields
        page.goto(f"{base}/accounts/signup/")
        page.fill("input[name=email]", "not an email")
        page.click("main button[type=submit]")
        assert page.locator("#id_email_error").count() == 1
        results["e2e-signup-errors"] = check(page, ARTIFACTS, "e2e-signup-errors")
        page.goto(f"{base}/accounts/password/reset/")
        page.fill("input[name=email]", email)
        page.click("main button[type=submit]")
        page.wait_for_url(f"{base}/accounts/password/reset/sent/")
        results["e2e-password-reset-sent"] = check(page, ARTIFACTS, "e2e-password-reset-sent")
        page.goto(f"{base}/no-such-page/")
        results["e2e-not-found"] = check(page, ARTIFACTS, "e2e-not-found")
        page.goto(f"{base}/accounts/login/")
        page.fill("input[name=username]", email)
        page.fill("input[name=password]", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url(f"{base}/")
        for name, path in signed_in.items():
            page.goto(f"{base}{path}")
            page.wait_for_load_state("networkidle")
            assert page.url == f"{base}{path}", name
            results[f"e2e-{name}"] = check(page, ARTIFACTS, f"e2e-{name}")
        # a new key's secret, shown once
        page.goto(f"{base}/keys/")
        page.fill("input[name=name]", "ci")
        page.click("form.stacked button[type=submit]")
        page.wait_for_url(f"{base}/keys/")
        assert page.locator("#new-secret").count() == 1
        results["e2e-keys-created"] = check(page, ARTIFACTS, "e2e-keys-created")
        browser.close()
    print({name: r["violations"] for name, r in results.items() if r["violations"]})
    assert len(results) == 15
    assert {name: r["overflow"] for name, r in results.items()} == dict.fromkeys(results, 0)
    assert severe(results) == {}


def test_admin_login_and_a_list_pass_axe(
    live_server: Any, make_model: ModelFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    seeded(make_model)
    staff = user_create(email="staff@example.com", password=PASSWORD)
    type(staff).objects.filter(pk=staff.pk).update(is_staff=True, is_superuser=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    base = live_server.url
    results: dict[str, dict[str, Any]] = {}
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/admin/login/")
        results["e2e-admin-login"] = check(page, ARTIFACTS, "e2e-admin-login")
        page.fill("input[name=username]", "staff@example.com")
        page.fill("input[name=password]", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(f"{base}/admin/")
        page.goto(f"{base}/admin/gateway/generation/")
        assert page.locator("#result_list tbody tr").count() == 2
        results["e2e-admin-generations"] = check(page, ARTIFACTS, "e2e-admin-generations")
        # the admin follows the system's dark scheme: the same list, dark
        page.emulate_media(color_scheme="dark")
        page.reload()
        results["e2e-admin-generations-dark"] = check(page, ARTIFACTS, "e2e-admin-generations-dark")
        browser.close()
    print({name: r["violations"] for name, r in results.items() if r["violations"]})
    assert severe(results) == {}
