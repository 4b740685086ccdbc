"""The console end to end in a real browser (Playwright driving Debian's chromium) against a
live server whose provider is the fake upstream: sign up; create a key and reload (still one
key, in the database and on the page); call the API with the official ``openai`` SDK on two
models; find each request on /usage/ and on the dashboard with its exact cost (the same as its
Generation row and its ledger usage entry, to the credit); download the CSV from the page's
export link and match each row to ``GET /v1/generation?id=…``."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import openai
import pytest
import requests

from accounts.models import ApiKey, User
from billing.models import LedgerEntry
from billing.services import credits_grant
from gateway.models import Generation
from tests.factories import ModelFactory
from tests.fakes.upstream import FakeUpstream
from tests.helpers import cost_of

CHROMIUM = "/usr/bin/chromium"
EMAIL = "e2e-flow@example.com"
PASSWORD = "a long enough password 1"
GRANT = 5_000_000
ALPHA = {"prompt": "1250", "completion": "4000.5"}
BETA = {"prompt": "333.3", "completion": "777.7"}
BETA_REQUEST_USD = "0.0001"  # a model's request price is in USD: 100 credits

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
    pytest.mark.django_db(transaction=True),
]

# (model, messages, prompt tokens, completion tokens): the fake counts 10 tokens a message
# and one a word of its "echo: …" reply
CALLS = [
    ("acme/alpha", [("system", "be brief"), ("user", "hello there gateway")], 20, 4),
    ("beta/beta", [("user", "two models please")], 10, 4),
    ("acme/alpha", [("user", "one more")], 10, 3),
]


def test_sign_up_key_sdk_usage_and_csv(
    live_server: Any,
    make_model: ModelFactory,
    upstream: FakeUpstream,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    make_model("acme/alpha", context_length=4_000, max_output_tokens=64, **ALPHA)
    make_model(
        "beta/beta", context_length=4_000, max_output_tokens=64, request=BETA_REQUEST_USD, **BETA
    )
    base = live_server.url
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        # 1. sign up
        page.goto(f"{base}/accounts/signup/")
        page.fill("input[name=email]", EMAIL)
        page.fill("input[name=password1]", PASSWORD)
        page.fill("input[name=password2]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/")
        user = User.objects.get(email=EMAIL)
        credits_grant(user_id=user.pk, amount=GRANT, memo="e2e")
        # 2. create a key; a reload shows it once more, and only once
        page.goto(f"{base}/keys/")
        page.fill("input[name=name]", "e2e laptop")
        page.click("form.stacked button[type=submit]")
        page.wait_for_url(f"{base}/keys/")
        secret = page.locator("#new-secret").inner_text()
        page.reload()
        assert ApiKey.objects.filter(user=user).count() == 1
        assert page.locator("#keys tbody tr").count() == 1
        assert page.locator("#keys tbody tr td[data-label=Name]").inner_text() == "e2e laptop"
        assert page.locator("#new-secret").count() == 0
        # 3. the official SDK on two models
        client = openai.OpenAI(base_url=f"{base}/v1", api_key=secret, max_retries=0)
        costs: dict[str, int] = {}
        for model, messages, prompt_tokens, completion_tokens in CALLS:
            result = client.chat.completions.create(
                model=model,
                messages=[{"role": r, "content": c} for r, c in messages],
                max_tokens=16,
            )
            assert result.model == model
            assert result.usage is not None
            usage = (result.usage.prompt_tokens, result.usage.completion_tokens)
            assert usage == (prompt_tokens, completion_tokens)
            prices = ALPHA if model == "acme/alpha" else {**BETA, "request": "100"}
            costs[result.id] = cost_of(
                prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, **prices
            )
            assert (result.usage.model_extra or {})["cost"] == costs[result.id]
        client.close()
        # worked by hand: 20x1250 + 4x4000.5; ceil(10x333.3 + 4x777.7 + 100); 10x1250 + 3x4000.5
        assert list(costs.values()) == [41_002, 6_544, 24_502]
        total = sum(costs.values())
        assert total == 72_048
        # each cost is the Generation row's and the ledger usage entry's, to the credit
        rows = {g.request_id: g for g in Generation.objects.filter(user=user)}
        assert {rid: g.cost for rid, g in rows.items()} == costs
        usage_entries = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.USAGE)
        assert {e.reference: -e.amount for e in usage_entries} == costs
        # 4. /usage/: each request with its cost; the totals per model
        page.goto(f"{base}/usage/")
        log = page.locator("#requests tbody tr")
        assert log.count() == 3
        seen = {}
        for i in range(3):
            row = log.nth(i)
            seen[row.locator("a.rid").inner_text()] = row.locator("td[data-label=Credits]")
        assert {rid: cell.inner_text() for rid, cell in seen.items()} == {
            rid: f"{cost:,}" for rid, cost in costs.items()
        }
        totals = {
            r.locator("td").nth(0).inner_text(): (
                r.locator("td[data-label=Requests]").inner_text(),
                r.locator("td[data-label=Credits]").inner_text(),
            )
            for r in page.locator("#totals-model tbody tr").all()
        }
        assert totals == {"acme/alpha": ("2", "65,504"), "beta/beta": ("1", "6,544")}
        # the dashboard: today's spend, the balance, the latest requests
        page.goto(f"{base}/")
        assert page.locator("#today-spend").inner_text() == "72,048"
        assert page.locator("#month-spend").inner_text() == "72,048"
        assert page.locator("#balance-credits").inner_text() == f"{GRANT - total:,}" == "4,927,952"
        latest = {
            r.locator("a.rid").inner_text(): r.locator("td[data-label=Credits]").inner_text()
            for r in page.locator("#requests tbody tr").all()
        }
        assert latest == {rid: f"{cost:,}" for rid, cost in costs.items()}
        # 5. the CSV from the export link, each row matched to /v1/generation
        page.goto(f"{base}/usage/")
        with page.expect_download() as download_info:
            page.click("#export")
        download = download_info.value
        assert download.suggested_filename.startswith("usage-")
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        browser.close()
    with saved.open(newline="") as f:
        exported = list(csv.DictReader(f))
    assert len(exported) == 3
    assert {r["id"] for r in exported} == set(costs)
    for r in exported:
        answer = requests.get(
            f"{base}/v1/generation",
            params={"id": r["id"]},
            headers={"Authorization": f"Bearer {secret}"},
            timeout=10,
        )
        assert answer.status_code == 200
        record = answer.json()["data"]
        assert record["id"] == r["id"]
        assert record["model"] == r["model"]
        assert record["tokens_prompt"] == int(r["prompt_tokens"])
        assert record["tokens_completion"] == int(r["completion_tokens"])
        assert record["cost"] == int(r["cost_credits"]) == costs[r["id"]]
        assert r["cost_usd"] == f"{costs[r['id']] / 1_000_000:.6f}"
        assert r["key_name"] == "e2e laptop"
        assert r["status"] == record["status"] == "success"
