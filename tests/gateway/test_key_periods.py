"""A key's spend limit per day, per week (from Monday) or per calendar month, UTC, through
the gateway: an exhausted limit is refused (402 ``key_limit_exceeded``) until the key's next
period, and ``GET /v1/key`` reports the period (``limit_reset``) and what is left of it.
The next period is reached by dating this period's rows back (the key's ``KeySpend`` row and
its daily rollups), as they will be then."""

from __future__ import annotations

import datetime as dt

import pytest

from billing.models import KeySpend
from config.money import period_start
from gateway.models import UsageDaily
from tests.factories import Account, AccountFactory, ModelFactory
from tests.fakes.upstream import FakeUpstream
from tests.helpers import ApiClient, assert_error, chat_body

START = 10_000_000
URL = "/v1/chat/completions"
STEP = {"daily": dt.timedelta(days=1), "weekly": dt.timedelta(days=7)}


def _spends(account: Account) -> dict[dt.date, tuple[int, int]]:
    rows = KeySpend.objects.filter(api_key_id=account.key.pk).values_list("month", "spent", "held")
    return {month: (spent, held) for month, spent, held in rows}


def _info(api: ApiClient, account: Account) -> dict:
    resp = api.get("/v1/key", account=account)
    assert resp.status_code == 200, resp.content
    return resp.json()["data"]


@pytest.mark.parametrize("reset", ["daily", "weekly"])
def test_an_exhausted_limit_is_refused_until_the_key_s_next_period(
    api: ApiClient,
    make_model: ModelFactory,
    make_account: AccountFactory,
    upstream: FakeUpstream,
    reset: str,
) -> None:
    # given a key limited to 150 credits per day (or week) that spent 100 this period
    make_model("test/echo")
    account = make_account(START, monthly_limit=150, limit_reset=reset)
    start = period_start(account.key.limit_period)
    first = api.post(URL, chat_body(text="hi"), account=account)
    assert first.status_code == 200, first.content
    assert first.json()["usage"]["cost"] == 100
    assert _spends(account) == {start: (100, 0)}
    # then the 50 credits left cannot pay for another, which nothing is charged for
    assert_error(api.post(URL, chat_body(text="hi"), account=account), 402, "key_limit_exceeded")
    assert account.balance() == START - 100 and account.held() == 0
    assert len(upstream.requests) == 1
    data = _info(api, account)
    assert data["limit_reset"] == reset and data["limit_credits"] == 150
    assert data["limit"] == 0.00015 and data["limit_remaining"] == 0.00005
    period_usage = "usage_daily_credits" if reset == "daily" else "usage_weekly_credits"
    assert (data[period_usage], data["limit_remaining_credits"], data["spendable"]) == (
        100,
        50,
        50,
    )
    assert data["usage_credits"] == data["usage_monthly_credits"] == 100
    # when the period is over
    before = start - STEP[reset]
    KeySpend.objects.filter(api_key_id=account.key.pk).update(month=before)
    UsageDaily.objects.filter(key_id=account.key.pk).update(day=before)
    # then the key has its whole limit again, and reports so
    data = _info(api, account)
    assert (data[period_usage], data["limit_remaining_credits"], data["spendable"]) == (
        0,
        150,
        150,
    )
    assert data["usage_credits"] == 100  # in all: usage never resets
    assert data["usage_monthly_credits"] == (100 if before >= period_start("month") else 0)
    again = api.post(URL, chat_body(text="hi"), account=account)
    assert again.status_code == 200, again.content
    assert _spends(account) == {before: (100, 0), start: (100, 0)}
    assert account.balance() == START - 200 and account.held() == 0
    assert_error(api.post(URL, chat_body(text="hi"), account=account), 402, "key_limit_exceeded")
    assert len(upstream.requests) == 2


def test_a_monthly_limit_counts_the_calendar_month(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory, upstream: FakeUpstream
) -> None:
    # given a key with a limit and no reset chosen: monthly
    make_model("test/echo")
    account = make_account(START, monthly_limit=150)
    assert account.key.limit_reset == "monthly"
    assert api.post(URL, chat_body(text="hi"), account=account).status_code == 200
    # then its spend is on the row of the 1st, and yesterday's spend would still count
    month = period_start("month")
    assert _spends(account) == {month: (100, 0)}
    assert_error(api.post(URL, chat_body(text="hi"), account=account), 402, "key_limit_exceeded")
    data = _info(api, account)
    assert data["limit_reset"] == "monthly"
    assert (data["usage_credits"], data["usage_monthly_credits"]) == (100, 100)
    assert data["limit_remaining_credits"] == 50 and data["limit_remaining"] == 0.00005


def test_a_key_without_a_limit_has_no_reset(api: ApiClient, make_account: AccountFactory) -> None:
    account = make_account(7_000, limit_reset="daily")
    data = _info(api, account)
    assert data["limit"] is None and data["limit_reset"] is None
    assert data["limit_remaining"] is None and data["spendable"] == 7_000
