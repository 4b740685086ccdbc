"""The credits page in a real browser (Playwright driving Debian's chromium): sign up,
open /credits/, buy a pack, land on the (fake) Stripe Checkout page, pay; the test then
delivers the signed webhook and the page shows the new balance. Screenshots of the page
at desktop (1280 px) and phone (390 px) widths are kept as test artifacts (the folder is
printed); the phone width must not scroll sideways."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from billing.models_payments import Payment
from tests.billing.payments.conftest import Webhook
from tests.fakes.stripe_server import FakeStripe

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", "var/test-artifacts")) / "credits"

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
    pytest.mark.django_db(transaction=True),
]


def test_buy_a_pack_in_a_browser(
    live_server: Any, fake_stripe: FakeStripe, packs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Playwright's sync API runs an event loop in this thread; the ORM calls below are
    # plain blocking calls made between its steps.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots in {ARTIFACTS.resolve()}")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        # given a new user, signed up through the console
        page.goto(f"{live_server.url}/accounts/signup/")
        page.fill("input[name=email]", "browser@example.com")
        page.fill("input[name=password1]", "a long enough password 1")
        page.fill("input[name=password2]", "a long enough password 1")
        page.click("button[type=submit]")
        page.goto(f"{live_server.url}/credits/")
        assert page.locator("#balance").inner_text() == "$0.00"
        page.screenshot(path=str(ARTIFACTS / "credits-empty-1280.png"), full_page=True)
        # when they buy the 10 USD pack: off to the Checkout page (the fake Stripe's)
        page.click("#buy-ten")
        page.wait_for_url(re.compile(re.escape(fake_stripe.url) + r"/pay/cs_test_\w+"))
        assert "Pay $10.00" in page.locator("#amount").inner_text()
        page.click("#pay")
        page.wait_for_url(re.compile(r".*/credits/\?payment=\d+"))
        assert "is being confirmed" in page.locator("#confirming").inner_text()
        assert page.locator("#balance").inner_text() == "$0.00"  # never from the return URL
        # then Stripe's webhook arrives, and the waiting page shows the new balance
        payment = Payment.objects.get()
        session = fake_stripe.session_object(payment.stripe_session_id)
        response = Webhook().deliver(fake_stripe.event("checkout.session.completed", session))
        assert response.status_code == 200
        # (the page's CSP forbids eval, so no wait_for_function: the locator polls)
        playwright_api.expect(page.locator("#balance")).to_have_text("$10.00", timeout=15_000)
        assert "Payment confirmed" in page.locator("#confirming").inner_text()
        assert (
            "Paid" in page.locator("#payments").inner_text()
            or "paid" in page.locator("#payments").inner_text()
        )
        page.screenshot(path=str(ARTIFACTS / "credits-paid-1280.png"), full_page=True)
        # at a phone's width the page fits: nothing scrolls sideways
        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        page.screenshot(path=str(ARTIFACTS / "credits-paid-390.png"), full_page=True)
        browser.close()
    assert overflow == 0
