"""The models page in a real browser (Playwright driving Debian's chromium), with the demo
catalog: at 1280 px and at a phone's 390 px nothing scrolls sideways, and the filter form
works without script (it is a GET form). Screenshots are kept as test artifacts (the folder
is printed; TEST_ARTIFACTS chooses it)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from catalog.services import catalog_import

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", "var/test-artifacts")) / "catalog"
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
    pytest.mark.django_db(transaction=True),
]


def test_models_page_fits_a_desktop_and_a_phone(
    live_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots in {ARTIFACTS.resolve()}")
    demo = Path(settings.BASE_DIR) / "catalog" / "demo_catalog.json"
    catalog_import(data=json.loads(demo.read_text()))
    overflow: dict[str, int] = {}
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900}, java_script_enabled=False)
        # given an anonymous visitor on the models page
        page.goto(f"{live_server.url}/models/")
        every = page.locator("article.model").count()
        overflow["1280"] = page.evaluate(OVERFLOW)
        page.screenshot(path=str(ARTIFACTS / "models-1280.png"), full_page=True)
        # when they filter on image output, with no script running
        page.select_option("select[name=output]", "image")
        page.click("form.filters button[type=submit]")
        images = page.locator("article.model").count()
        assert "output=image" in page.url
        page.screenshot(path=str(ARTIFACTS / "models-image-1280.png"), full_page=True)
        # and at a phone's width
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{live_server.url}/models/")
        overflow["390"] = page.evaluate(OVERFLOW)
        page.screenshot(path=str(ARTIFACTS / "models-390.png"), full_page=True)
        page.screenshot(path=str(ARTIFACTS / "models-390-top.png"))
        browser.close()
    # then every enabled demo model is listed, the filter keeps the image models, and
    # nothing scrolls sideways at either width
    assert every == 10 and images == 3
    assert overflow == {"1280": 0, "390": 0}
