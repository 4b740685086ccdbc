"""The console's own pages in a real browser (Playwright driving Debian's chromium): sign
up, create a key and reload (still one key, the secret gone), copy it, edit its limits,
account settings, log-in, sign-up and password reset. Each page is shot at 1280 and 390 px
(the folder is printed) and must not scroll sideways at 390 px."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from django.core import mail

from accounts.models import ApiKey, User

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", "var/test-artifacts")) / "console"
KEY_RE = re.compile(r"sk-[0-9a-f]{12}-[A-Za-z0-9_\-]{43}")
PASSWORD = "a long enough password 1"
NEW_PASSWORD = "another long enough password 2"
EMAIL = "browser-user-with-a-long-address@example.com"

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
    pytest.mark.django_db(transaction=True),
]


def shoot(page: Any, name: str) -> dict[str, int]:
    """Screenshots at both widths; the sideways overflow (px) at 390."""
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=str(ARTIFACTS / f"{name}-1280.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    page.screenshot(path=str(ARTIFACTS / f"{name}-390.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    return {name: overflow}


def test_console_pages_in_a_browser(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots in {ARTIFACTS.resolve()}")
    base = live_server.url
    overflow: dict[str, int] = {}
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
        page = context.new_page()
        # the anonymous pages
        page.goto(f"{base}/accounts/login/")
        overflow |= shoot(page, "login")
        page.goto(f"{base}/accounts/password/reset/")
        overflow |= shoot(page, "password-reset")
        page.goto(f"{base}/accounts/signup/")
        page.click("button[type=submit]")  # empty: errors beside the fields
        assert page.locator("#id_email_error").count() == 1
        overflow |= shoot(page, "signup-errors")
        # sign up
        page.fill("input[name=email]", EMAIL)
        page.fill("input[name=password1]", PASSWORD)
        page.fill("input[name=password2]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/")
        # create a key: the page after the redirect shows it once, with a copy button
        page.goto(f"{base}/keys/")
        page.fill("input[name=name]", "laptop")
        page.fill("input[name=allowed_ips]", "10.0.0.0/8, 192.168.1.7")
        page.click("form.stacked button[type=submit]")
        page.wait_for_url(f"{base}/keys/")
        secret = page.locator("#new-secret").inner_text()
        assert KEY_RE.fullmatch(secret)
        page.click("button[data-copy]")
        playwright_api.expect(page.locator("[data-copied-note]")).to_have_text(
            "Copied to the clipboard."
        )
        assert page.evaluate("navigator.clipboard.readText()") == secret
        overflow |= shoot(page, "keys-created")
        # a reload: no secret, still one key
        page.reload()
        assert page.locator("#new-secret").count() == 0
        assert not KEY_RE.search(page.content())
        assert ApiKey.objects.count() == 1
        overflow |= shoot(page, "keys")
        # edit its limits, once with an error beside the field
        page.click("#keys a[href$='/edit/']")
        page.fill("input[name=rate_limit_rpm]", "100000")
        page.click("form.stacked button[type=submit]")
        assert page.locator("#id_rate_limit_rpm_error").count() == 1
        overflow |= shoot(page, "key-edit-error")
        page.fill("input[name=rate_limit_rpm]", "30")
        page.click("form.stacked button[type=submit]")
        page.wait_for_url(f"{base}/keys/")
        assert ApiKey.objects.get().rate_limit_rpm == 30
        # account settings: a time zone
        page.goto(f"{base}/account/")
        page.select_option("select[name=time_zone]", "Europe/Paris")
        page.click("#time-zone button[type=submit]")
        page.wait_for_url(f"{base}/account/")
        overflow |= shoot(page, "account")
        page.goto(f"{base}/keys/")
        assert "(UTC+01:00)" in page.content()
        # password reset, signed out: the request, the email's link, a new password
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.goto(f"{base}/accounts/login/")
        page.click("a[href='/accounts/password/reset/']")
        page.fill("input[name=email]", EMAIL)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/accounts/password/reset/sent/")
        overflow |= shoot(page, "password-reset-sent")
        link = re.search(r"http://\S+/accounts/password/reset/\S+/\S+/", mail.outbox[-1].body)
        assert link is not None
        page.goto(link.group(0))
        page.fill("input[name=new_password1]", "short")
        page.fill("input[name=new_password2]", "short")
        page.click("button[type=submit]")
        assert page.locator("#id_new_password2_error").count() == 1
        overflow |= shoot(page, "password-reset-confirm-errors")
        page.fill("input[name=new_password1]", NEW_PASSWORD)
        page.fill("input[name=new_password2]", NEW_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/accounts/password/reset/complete/")
        overflow |= shoot(page, "password-reset-complete")
        page.goto(link.group(0))
        assert "This link does not work" in page.content()
        overflow |= shoot(page, "password-reset-link-used")
        browser.close()
    assert overflow == dict.fromkeys(overflow, 0), overflow
    assert User.objects.get(email=EMAIL).check_password(NEW_PASSWORD)
