"""The usage pages with real billed requests (the fake upstream): the charts, the totals and
the dashboard's spend equal the ledger's usage entries to the credit; a request's detail page
shows its record and is a 404 for anyone else; every page needs a login."""

from __future__ import annotations

import re

import pytest
from django.db.models import Sum
from django.test import Client

from accounts.services import apikey_create
from billing.models import LedgerEntry
from gateway.console.charts import ChartTable
from gateway.models import Generation
from tests.factories import Account, AccountFactory, ModelFactory
from tests.helpers import ApiClient, chat_body


@pytest.fixture
def billed(make_model: ModelFactory, make_account: AccountFactory, api: ApiClient) -> Account:
    """A user who made 5 billed requests on two models through two keys, and one refused."""
    make_model("test/echo", prompt="1.5", completion="6.25")
    make_model("test/big", prompt="30", completion="120")
    account = make_account(50_000_000)
    second = apikey_create(user=account.user, name="second")
    second_headers = {"HTTP_AUTHORIZATION": f"Bearer {second.secret}"}
    calls = [
        ("test/echo", "one two three", account.headers),
        ("test/echo", "a longer prompt with more words in it", account.headers),
        ("test/big", "hello", account.headers),
        ("test/big", "hello again from the second key", second_headers),
        ("test/echo", "four", second_headers),
    ]
    for model, text, headers in calls:
        resp = api.post("/v1/chat/completions", chat_body(model, text), **headers)
        assert resp.status_code == 200, resp.content
    refused = api.post("/v1/chat/completions", chat_body("no/such-model"), account=account)
    assert refused.status_code in (400, 404)
    return account


def ledger_usage(account: Account, **filters: object) -> int:
    total = LedgerEntry.objects.filter(
        account__user=account.user, kind=LedgerEntry.Kind.USAGE, **filters
    ).aggregate(s=Sum("amount"))["s"]
    return -(total or 0)


def signed_in(account: Account) -> Client:
    client = Client()
    client.force_login(account.user)
    return client


def test_charts_and_totals_equal_the_ledger_to_the_credit(billed: Account) -> None:
    spent = ledger_usage(billed)
    assert spent > 0 and Generation.objects.filter(user=billed.user, cost__gt=0).count() == 5
    # when the user opens /usage/ for 7 days, stacked by model
    resp = signed_in(billed).get("/usage/", {"period": "7", "by": "model"})
    assert resp.status_code == 200
    spend: ChartTable = resp.context["spend"]
    tokens: ChartTable = resp.context["tokens"]
    # then the spend chart's numbers add up to the ledger's usage entries, per model too
    assert spend.total() == spent
    assert len(spend.days) == 7
    per_model = dict(spend.group_totals())
    for model in ("test/echo", "test/big"):
        assert per_model[model] == ledger_usage(billed, reference__in=_ids(billed, model=model))
    totals = {t.label: t.cost for t in resp.context["by_model"]}
    assert totals == per_model
    # per key: the two keys' totals are the ledger's entries of each key
    keys = {t.label: (t.requests, t.cost) for t in resp.context["by_key"]}
    assert sum(cost for _, cost in keys.values()) == spent
    first = f"{billed.key.name} ({billed.key.prefix})"
    assert keys[first] == (3, ledger_usage(billed, api_key=billed.key))
    # the tokens chart sums every billed request's prompt and completion tokens
    gens = Generation.objects.filter(user=billed.user, cost__gt=0)
    assert tokens.total() == sum(g.prompt_tokens + g.completion_tokens for g in gens)
    # and the page prints the total in credits with thousands separators
    assert f"{spent:,}" in resp.content.decode()


def test_stacked_by_key_gives_the_same_total(billed: Account) -> None:
    resp = signed_in(billed).get("/usage/", {"period": "30", "by": "key"})
    spend: ChartTable = resp.context["spend"]
    assert spend.total() == ledger_usage(billed)
    assert len(spend.groups) == 2 and len(spend.days) == 30


def test_dashboard_shows_balance_and_spend(billed: Account) -> None:
    resp = signed_in(billed).get("/")
    assert resp.status_code == 200
    page = resp.content.decode()
    balance = billed.balance()
    assert balance == 50_000_000 - ledger_usage(billed)
    assert re.search(rf'id="balance-credits">{re.escape(f"{balance:,}")}<', page)
    assert resp.context["today_spend"] == ledger_usage(billed)
    assert resp.context["month_spend"] == ledger_usage(billed)
    assert resp.context["spend"].total() == ledger_usage(billed)
    assert len(resp.context["generations"]) == 6  # the refused one is listed too
    assert 'id="low-balance"' not in page


def test_dashboard_low_balance_notice_links_to_credits(make_account: AccountFactory) -> None:
    account = make_account(999_999)
    page = signed_in(account).get("/").content.decode()
    assert 'id="low-balance"' in page and 'href="/credits/"' in page
    assert "999,999" in page


def test_chart_svg_is_an_image_without_script_under_its_own_policy(billed: Account) -> None:
    resp = signed_in(billed).get("/usage/chart/spend.svg", {"period": "7"})
    assert resp.status_code == 200 and resp["Content-Type"] == "image/svg+xml"
    svg = resp.content.decode()
    assert svg.startswith("<svg") and "<script" not in svg
    assert "Spend per UTC day" in svg and "test/big" in svg
    assert "default-src 'none'" in resp["Content-Security-Policy"]
    assert signed_in(billed).get("/usage/chart/other.svg").status_code == 404


def test_detail_page_shows_the_record_and_is_404_for_another_user(
    billed: Account, make_account: AccountFactory
) -> None:
    gen = Generation.objects.filter(user=billed.user, model="test/big").first()
    assert gen is not None
    resp = signed_in(billed).get(f"/usage/requests/{gen.request_id}/")
    assert resp.status_code == 200
    page = resp.content.decode()
    assert gen.request_id in page and f"{gen.cost:,} credits" in page
    assert 'id="prices"' in page and 'id="breakdown"' in page and 'id="attempts"' in page
    for amount in gen.cost_breakdown.values():
        assert f"<code>{amount}</code>" in page
    assert len(resp.context["attempts"]) == len(gen.attempts) >= 1
    # another user gets a 404, the same as for a request id that does not exist
    other = make_account(1_000_000)
    assert signed_in(other).get(f"/usage/requests/{gen.request_id}/").status_code == 404
    assert signed_in(billed).get("/usage/requests/gen-nothing/").status_code == 404


def test_refused_request_is_in_the_log_at_no_cost(billed: Account) -> None:
    resp = signed_in(billed).get("/usage/", {"status": "refused"})
    rows = resp.context["page"].rows
    assert [(g.status, g.cost) for g in rows] == [("refused", 0)]
    assert rows[0].error_code and rows[0].error_code in resp.content.decode()


@pytest.mark.parametrize(
    "path",
    ["/", "/usage/", "/usage/export.csv", "/usage/chart/spend.svg", "/usage/requests/gen-x/"],
)
def test_anonymous_is_sent_to_login(db: None, path: str) -> None:
    resp = Client().get(path)
    assert resp.status_code == 302
    assert resp["Location"].startswith("/accounts/login/?next=")


def test_bad_filters_answer_the_page_with_errors_not_a_500(billed: Account) -> None:
    resp = signed_in(billed).get(
        "/usage/", {"period": "custom", "start": "2026-02-10", "end": "2026-01-01", "key": "x"}
    )
    assert resp.status_code == 200
    form = resp.context["form"]
    assert "end" in form.errors and "key" in form.errors
    assert len(resp.context["spend"].days) == 30  # the default period instead
    assert resp.context["page"].rows  # and the log unfiltered
    assert signed_in(billed).get("/usage/", {"cursor": "not-a-cursor"}).status_code == 200


def _ids(account: Account, **filters: object) -> list[str]:
    rows = Generation.objects.filter(user=account.user, **filters)
    return list(rows.values_list("request_id", flat=True))
