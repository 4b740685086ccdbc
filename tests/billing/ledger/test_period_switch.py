"""A key's ``limit_reset`` changed while one of its holds is open, on both backends: the hold
carries the period start its reserve counted on, so its settle or release moves that
``KeySpend`` row, never the new period's; requests after the change count on the new
period's row. (On a day that starts both periods, the 1st of a month or a Monday, the two
starts are one date and so one row, which holds the spend since that date either way.)"""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.models import ApiKey
from accounts.services import apikey_update
from billing.ledger import KeyLimitExceeded, Ledger
from billing.models import KeySpend
from billing.selectors import ledger_breaches
from config.money import period_start
from tests.billing.conftest import account_row
from tests.billing.ledger.conftest import Reserve, row_for
from tests.factories import Account, AccountFactory

START = 1_000_000


def _spends(account: Account) -> dict[dt.date, tuple[int, int]]:
    rows = KeySpend.objects.filter(api_key_id=account.key.pk).values_list("month", "spent", "held")
    return {month: (spent, held) for month, spent, held in rows}


def _rows(*entries: tuple[dt.date, int, int]) -> dict[dt.date, tuple[int, int]]:
    """Expected rows: (start, spent, held) entries, added up where two starts are one date."""
    out: dict[dt.date, tuple[int, int]] = {}
    for start, spent, held in entries:
        old = out.get(start, (0, 0))
        out[start] = (old[0] + spent, old[1] + held)
    return out


def _switch(account: Account, reset: str) -> ApiKey:
    key = account.key
    key.limit_reset = reset
    apikey_update(api_key=key, changed=["limit_reset"])
    key.refresh_from_db()
    assert key.limit_reset == reset
    return key


@pytest.mark.parametrize(("old", "new"), [("monthly", "daily"), ("daily", "weekly")])
def test_a_hold_open_across_a_reset_change_settles_on_its_own_period(
    ledger: Ledger, hold_for: Reserve, make_account: AccountFactory, old: str, new: str
) -> None:
    # given a key limited to 1,000 credits per period with 400 held on its current period
    account = make_account(START, monthly_limit=1_000, limit_reset=old)
    old_start = period_start(account.key.limit_period)
    open_hold = hold_for(account, 400, limit_period=account.key.limit_period)
    assert open_hold.month == old_start
    assert _spends(account) == {old_start: (0, 400)}
    # when the key's reset is changed while that request runs
    key = _switch(account, new)
    new_start = period_start(key.limit_period)
    # then a new request counts on the new period's row, within the new period's limit
    fresh = hold_for(account, 600, limit_period=key.limit_period)
    assert fresh.month == new_start
    assert _spends(account) == _rows((old_start, 0, 400), (new_start, 0, 600))
    if new_start != old_start:  # the new row's 1,000 less 600: 400 left, not 401
        with pytest.raises(KeyLimitExceeded):
            hold_for(account, 401, limit_period=key.limit_period)
    assert account_row(account) == (START, 1_000)
    # and the open hold's settle moves the old period's row only (250 of its 400 spent)
    ledger.settle(hold=open_hold, cost=250, record=row_for(account, open_hold))
    assert _spends(account) == _rows((old_start, 250, 0), (new_start, 0, 600))
    ledger.settle(hold=fresh, cost=600, record=row_for(account, fresh))
    assert _spends(account) == _rows((old_start, 250, 0), (new_start, 600, 0))
    assert account_row(account) == (START - 850, 0)
    assert ledger_breaches() == []


def test_a_hold_released_after_a_reset_change_frees_its_own_period(
    ledger: Ledger, hold_for: Reserve, make_account: AccountFactory
) -> None:
    # given a weekly key with 700 of its 1,000 held, then switched to monthly
    account = make_account(START, monthly_limit=1_000, limit_reset="weekly")
    week = period_start("week")
    open_hold = hold_for(account, 700, limit_period="week")
    key = _switch(account, "monthly")
    month = period_start(key.limit_period)
    fresh = hold_for(account, 300, limit_period=key.limit_period)
    assert _spends(account) == _rows((week, 0, 700), (month, 0, 300))
    # when the week's request fails and its hold is released
    assert ledger.release(hold=open_hold).released is True
    # then the week's row is back to nothing held, the month's keeps its 300
    assert _spends(account) == _rows((week, 0, 0), (month, 0, 300))
    assert account_row(account) == (START, 300)
    ledger.settle(hold=fresh, cost=300, record=row_for(account, fresh))
    assert _spends(account) == _rows((week, 0, 0), (month, 300, 0))
    assert account_row(account) == (START - 300, 0)
    assert ledger_breaches() == []
