"""A key's spend limit per day, per week (from Monday) or per calendar month (UTC), on both
backends: the reserve counts the key's current period on the ``KeySpend`` row of its start,
and the settle and release of a hold move the row its reserve used, even after that period
ended. Time is moved by dating the rows back, as the next period would find them."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from billing.ledger import KeyLimitExceeded, Ledger
from billing.models import Hold, KeySpend
from billing.selectors import ledger_breaches
from config.money import period_start
from tests.billing.conftest import account_row
from tests.billing.ledger.conftest import Reserve, row_for
from tests.factories import Account, AccountFactory

RESETS = ["daily", "weekly", "monthly"]


def _previous_start(reset: str, start: dt.date) -> dt.date:
    """The start of the period before the one starting on ``start``."""
    if reset == "daily":
        return start - dt.timedelta(days=1)
    if reset == "weekly":
        return start - dt.timedelta(days=7)
    return (start - dt.timedelta(days=1)).replace(day=1)


def _spends(account: Account) -> dict[dt.date, tuple[int, int]]:
    rows = KeySpend.objects.filter(api_key_id=account.key.pk).values_list("month", "spent", "held")
    return {month: (spent, held) for month, spent, held in rows}


def test_the_period_start_is_the_day_the_monday_or_the_first() -> None:
    now = dt.datetime(2026, 12, 3, 23, 59, tzinfo=dt.UTC)  # a Thursday
    assert period_start("day", now) == dt.date(2026, 12, 3)
    assert period_start("week", now) == dt.date(2026, 11, 30)
    assert period_start("month", now) == dt.date(2026, 12, 1)
    # a time given in another zone is taken at its UTC day
    tokyo = dt.timezone(dt.timedelta(hours=9))
    assert period_start("day", dt.datetime(2026, 12, 4, 5, 0, tzinfo=tokyo)) == now.date()


@pytest.mark.parametrize("reset", RESETS)
def test_an_exhausted_limit_refuses_until_the_next_period(
    ledger: Ledger, hold_for: Reserve, make_account: AccountFactory, reset: str
) -> None:
    # given a key limited to 500 credits per period, which spent them all this period
    account = make_account(1_000_000, monthly_limit=500, limit_reset=reset)
    period = account.key.limit_period
    start = period_start(period)
    hold = hold_for(account, 500, limit_period=period)
    assert hold.month == start
    ledger.settle(hold=hold, cost=500, record=row_for(account, hold))
    assert _spends(account) == {start: (500, 0)}
    # then a single credit more is refused this period, holding nothing
    with pytest.raises(KeyLimitExceeded) as exc:
        hold_for(account, 1, limit_period=period)
    assert exc.value.code == "key_limit_exceeded"
    assert account_row(account) == (1_000_000 - 500, 0)
    # when the period is over (its row now dated the period before)
    before = _previous_start(reset, start)
    KeySpend.objects.filter(api_key_id=account.key.pk).update(month=before)
    # then the whole limit is there again, counted on the new period's row
    again = hold_for(account, 500, limit_period=period)
    assert again.month == start
    assert _spends(account) == {before: (500, 0), start: (0, 500)}
    with pytest.raises(KeyLimitExceeded):
        hold_for(account, 1, limit_period=period)
    assert account_row(account) == (1_000_000 - 500, 500)
    assert ledger_breaches() == []


def test_a_monthly_key_counts_the_whole_month_on_one_row(
    ledger: Ledger, hold_for: Reserve, make_account: AccountFactory
) -> None:
    # given a monthly key (the default) that spent 300 of 500 on an earlier day this month
    account = make_account(1_000_000, monthly_limit=500)
    assert account.key.limit_reset == "monthly" and account.key.limit_period == "month"
    hold = hold_for(account, 300)
    ledger.settle(hold=hold, cost=300, record=row_for(account, hold))
    # then the month's row, dated the 1st, leaves 200, whatever the day
    assert hold.month == period_start("month") and hold.month.day == 1
    assert _spends(account) == {period_start("month"): (300, 0)}
    with pytest.raises(KeyLimitExceeded):
        hold_for(account, 201)
    hold_for(account, 200)
    assert _spends(account) == {period_start("month"): (300, 200)}


@pytest.mark.parametrize("reset", ["daily", "weekly"])
def test_a_settle_after_the_period_ended_moves_the_row_its_reserve_held(
    ledger: Ledger, hold_for: Reserve, make_account: AccountFactory, reset: str
) -> None:
    # given a hold reserved in the period before (a request running across midnight)
    account = make_account(1_000_000, monthly_limit=1_000, limit_reset=reset)
    period = account.key.limit_period
    start = period_start(period)
    before = _previous_start(reset, start)
    first = hold_for(account, 400, limit_period=period)
    second = hold_for(account, 300, limit_period=period)
    KeySpend.objects.filter(api_key_id=account.key.pk).update(month=before)
    Hold.objects.filter(api_key_id=account.key.pk).update(month=before)
    late, gone = (dataclasses.replace(h, month=before) for h in (first, second))
    # and a new request of the new period
    fresh = hold_for(account, 900, limit_period=period)
    assert _spends(account) == {before: (0, 700), start: (0, 900)}
    # when the old requests settle and release
    ledger.settle(hold=late, cost=250, record=row_for(account, late))
    assert ledger.release(hold=gone).released is True
    # then the old period's row takes them, and the new one is untouched
    assert _spends(account) == {before: (250, 0), start: (0, 900)}
    ledger.settle(hold=fresh, cost=900, record=row_for(account, fresh))
    assert _spends(account) == {before: (250, 0), start: (900, 0)}
    assert account_row(account) == (1_000_000 - 1_150, 0)
    assert ledger_breaches() == []
