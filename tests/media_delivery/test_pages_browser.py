"""The task pages and the settings page's callback secret in chromium at 1280 and 390 px:
screenshots kept under var/test-artifacts/console/, nothing scrolling sideways at 390 px,
axe-core finding no serious or critical violation, and the images loaded from their
durable links."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from accounts.services import user_create
from tests.e2e.pages import check, severe
from tests.media_delivery.scenes import scene_make

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", "var/test-artifacts")) / "console"
PASSWORD = "a long enough password 1"

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
    pytest.mark.django_db(transaction=True),
]


def test_task_and_settings_pages(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    user = user_create(email="media@example.com", password=PASSWORD)
    scene = scene_make(user)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots in {ARTIFACTS.resolve()}")
    base = live_server.url
    pages = {
        "media-task-image": f"/usage/tasks/{scene.image_task.public_id}/",
        "media-task-failed": f"/usage/tasks/{scene.video_task.public_id}/",
        "media-request": f"/usage/requests/{scene.generation.request_id}/",
        "media-account": "/account/",
    }
    results: dict[str, dict[str, Any]] = {}
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/accounts/login/")
        page.fill("input[name=username]", user.email)
        page.fill("input[name=password]", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url(f"{base}/")
        for name, path in pages.items():
            page.goto(f"{base}{path}")
            page.wait_for_load_state("networkidle")
            assert page.url == f"{base}{path}", name
            if name == "media-task-image":
                widths = page.eval_on_selector_all(
                    "#outputs img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)"
                )
                assert widths == [64, 64]
            results[name] = check(page, ARTIFACTS, name)
        # the secret revealed, then rotated through the confirm dialog
        page.goto(f"{base}/")
        page.goto(f"{base}/account/#callback-secret")
        shown = page.locator("#callback-secret-value")
        assert not shown.is_visible()
        page.click("#callback-secret summary")
        assert shown.is_visible()
        before = shown.text_content()
        section = page.locator("#callback-secret")
        for width, height in ((1280, 900), (390, 844)):
            page.set_viewport_size({"width": width, "height": height})
            section.screenshot(path=str(ARTIFACTS / f"media-account-revealed-{width}.png"))
            assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") == 0
        page.set_viewport_size({"width": 1280, "height": 900})
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#callback-secret form button[type=submit]")
        page.wait_for_url(f"{base}/account/#callback-secret")
        assert page.locator(".msg.success").count() == 1
        assert page.locator("#callback-secret-value").text_content() != before
        results["media-account-rotated"] = check(page, ARTIFACTS, "media-account-rotated")
        browser.close()
    print({name: r["violations"] for name, r in results.items() if r["violations"]})
    assert {name: r["overflow"] for name, r in results.items()} == dict.fromkeys(results, 0)
    assert severe(results) == {}
