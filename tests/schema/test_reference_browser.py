"""The console's API reference page in chromium: shot at 1280 and 390 px (the folder is
printed), no sideways scroll at 390 px, every operation's card present, and nothing loaded
from another origin."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from gateway.api.schema.document import operations

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", "var/test-artifacts")) / "schema"

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
    pytest.mark.django_db(transaction=True),
]


def test_the_reference_page_in_a_browser(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots in {ARTIFACTS.resolve()}")
    requested: list[str] = []
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("request", lambda r: requested.append(r.url))
        page.goto(f"{live_server.url}/docs/api/")
        assert page.locator("article.ref-op").count() == len(operations())
        page.screenshot(path=str(ARTIFACTS / "reference-1280.png"), full_page=True)
        page.screenshot(path=str(ARTIFACTS / "reference-1280-top.png"))
        page.goto(f"{live_server.url}/docs/api/#keys-create")
        page.screenshot(path=str(ARTIFACTS / "reference-1280-keys.png"))
        page.set_viewport_size({"width": 390, "height": 844})
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        page.screenshot(path=str(ARTIFACTS / "reference-390.png"), full_page=True)
        page.screenshot(path=str(ARTIFACTS / "reference-390-keys.png"))
        page.goto(f"{live_server.url}/docs/api/")
        page.screenshot(path=str(ARTIFACTS / "reference-390-top.png"))
        page.click("nav.ref-toc a[href='#keys-create']")
        assert page.evaluate("location.hash") == "#keys-create"
        browser.close()
    assert overflow == 0
    assert requested and all(url.startswith(live_server.url) for url in requested), requested
