"""The usage pages in a real browser (Playwright driving Debian's chromium): the dashboard,
/usage/ with two weeks of requests on three models, and a request's detail page, at 1280 and
390 px. Screenshots are kept as test artifacts (the folder is printed); at 390 px no page
scrolls sideways, and the charts' images load under the page's Content-Security-Policy."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import User
from accounts.services import apikey_create, user_create
from billing.services import credits_grant
from gateway.models import Generation, UsageDaily
from tests.usage.page_rows import generation_at

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", "var/test-artifacts")) / "usage"
PASSWORD = "a long enough password 1"
MODELS = ("acme/small", "acme/large-context-model", "beta/chat")

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
    pytest.mark.django_db(transaction=True),
]


def seeded_user() -> tuple[User, Generation]:
    """A user with 14 days of requests through two keys, and their daily rollups."""
    user = user_create(email="charts@example.com", password=PASSWORD)
    credits_grant(user_id=user.pk, amount=4_998_732, memo="test")
    keys = [apikey_create(user=user, name=name).api_key for name in ("ci", "laptop")]
    now = timezone.now()
    last = None
    for n in range(84):
        model = MODELS[n % 3]
        key = keys[n % 2]
        cost = 20_000 + 7_919 * (n % 11) + (50_000 if model == MODELS[1] else 0)
        moment = now - dt.timedelta(hours=4 * n)
        status = "refused" if n % 17 == 5 else "success"
        row = generation_at(
            user,
            moment,
            key=key,
            model=model,
            status=status,
            http_status=402 if status == "refused" else 200,
            error_code="insufficient_credits" if status == "refused" else "",
            cost=0 if status == "refused" else cost,
            prompt_tokens=120 + n * 7,
            completion_tokens=40 + n * 3,
            is_streamed=n % 3 == 0,
            prices={"prompt": "1.5", "completion": "6.25"},
            cost_breakdown={"prompt": "180", "completion": "250"},
            attempts=[
                {
                    "model": model,
                    "provider": "fake",
                    "route": 1,
                    "status": 502,
                    "error": "upstream_error",
                    "ms": 120,
                },
                {
                    "model": model,
                    "provider": "fake",
                    "route": 2,
                    "status": 200,
                    "error": "",
                    "ms": 840,
                },
            ],
        )
        if status == "success":
            bucket, _ = UsageDaily.objects.get_or_create(
                user=user, key_id=key.pk, model=model, day=moment.astimezone(dt.UTC).date()
            )
            UsageDaily.objects.filter(pk=bucket.pk).update(
                requests=bucket.requests + 1,
                prompt_tokens=bucket.prompt_tokens + row.prompt_tokens,
                completion_tokens=bucket.completion_tokens + row.completion_tokens,
                cost=bucket.cost + row.cost,
            )
            last = last or row
    assert last is not None
    return user, last


def test_usage_pages_in_a_browser(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    user, generation = seeded_user()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots in {ARTIFACTS.resolve()}")
    pages = {
        "dashboard": "/",
        "usage": "/usage/?period=30",
        "usage-by-key": "/usage/?period=7&by=key",
        "detail": f"/usage/requests/{generation.request_id}/",
    }
    overflow: dict[str, int] = {}
    broken: dict[str, list[str]] = {}
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=username]", user.email)
        page.fill("input[name=password]", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        assert page.locator("#balance-credits").inner_text() == "4,998,732"
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 900})
            for name, path in pages.items():
                page.goto(f"{live_server.url}{path}")
                page.wait_for_load_state("networkidle")
                # every chart image loaded (an SVG the CSP blocked would have no size)
                sizes = page.eval_on_selector_all(
                    "figure.chart img", "imgs => imgs.map(i => i.naturalWidth)"
                )
                broken[f"{name}-{width}"] = [str(s) for s in sizes if not s]
                overflow[f"{name}-{width}"] = page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
                page.screenshot(path=str(ARTIFACTS / f"{name}-{width}-top.png"))
                if name == "usage":
                    chart = page.locator("figure.chart").first
                    chart.screenshot(path=str(ARTIFACTS / f"chart-{width}.png"))
        browser.close()
    assert all(v == 0 for v in overflow.values()), overflow
    assert not any(broken.values()), broken
    assert not [e for e in errors if "Content Security Policy" in e], errors
