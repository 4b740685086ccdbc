"""Helpers of the console's page checks in chromium: screenshots at 1280 and 390 px, the
sideways overflow at 390 px, and axe-core's violations (bundled by axe-playwright-python)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

# axe-core, bundled by the dev dependency axe-playwright-python (no download at run time)
Axe = pytest.importorskip("axe_playwright_python.sync_playwright", reason="needs axe-core").Axe
WIDTHS = {1280: 900, 390: 844}
SEVERE = {"serious", "critical"}
_axe = Axe()


def violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is: rule id, impact, the nodes' selectors
    (and that it ran: at least 15 of its rules applied and passed)."""
    response = _axe.run(page).response
    assert len(response["passes"]) >= 15, (page.url, len(response["passes"]))
    found = response["violations"]
    return [
        {
            "rule": v["id"],
            "impact": v["impact"],
            "nodes": [" ".join(map(str, n["target"])) for n in v["nodes"]],
        }
        for v in found
    ]


def check(page: Any, folder: Path, name: str) -> dict[str, Any]:
    """The page at both widths: a full-page screenshot each and the overflow (px) at 390;
    then, its ``<details>`` opened (the charts' tables), axe-core's violations at each width."""
    result: dict[str, Any] = {"violations": []}
    for width, height in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=True)
        if width == 390:
            result["overflow"] = page.evaluate(
                "document.documentElement.scrollWidth - window.innerWidth"
            )
    page.eval_on_selector_all("details", "ds => ds.forEach(d => { d.open = true; })")
    for width, height in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        result["violations"] += [v | {"width": width} for v in violations(page)]
    page.set_viewport_size({"width": 1280, "height": 900})
    return result


def severe(results: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Per page, the serious and critical violations as "rule (impact) @width: nodes"."""
    return {
        name: [
            f"{v['rule']} ({v['impact']}) @{v['width']}: {v['nodes']}"
            for v in r["violations"]
            if v["impact"] in SEVERE
        ]
        for name, r in results.items()
        if any(v["impact"] in SEVERE for v in r["violations"])
    }
