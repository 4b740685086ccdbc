"""config.money: credits and USD, exact, and the starts of spending periods (UTC)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib import admin
from hypothesis import given
from hypothesis import strategies as st

from accounts.admin import credits_display
from billing.admin import CreditAccountAdmin
from billing.models import CreditAccount
from billing.templatetags.money import usd
from config.money import (
    CREDITS_PER_USD,
    credits_to_usd,
    period_start,
    usd_per_million_to_credits,
    usd_per_unit_to_credits,
    usd_to_credits,
)


def test_credits_and_usd_convert_exactly() -> None:
    assert CREDITS_PER_USD == 1_000_000
    assert credits_to_usd(1) == Decimal("0.000001")
    assert credits_to_usd(1_500_000) == Decimal("1.5")
    assert credits_to_usd(-150) == Decimal("-0.00015")
    # far beyond what a float holds exactly
    assert credits_to_usd(10**18 + 1) == Decimal("1000000000000.000001")
    assert credits_to_usd(Decimal("0.5")) == Decimal("0.0000005")  # credits per token


def test_usd_to_credits_drops_fractions_of_a_credit() -> None:
    assert usd_to_credits(Decimal("12.345678")) == 12_345_678
    assert usd_to_credits(Decimal("0.0000015")) == 1
    assert usd_to_credits(Decimal("0.0000009")) == 0
    assert usd_to_credits(Decimal(5)) == 5_000_000


def test_prices_convert_to_credits_per_token_and_per_unit() -> None:
    # USD per 1M tokens is credits per token; USD per image is a million credits per USD
    assert usd_per_million_to_credits(Decimal("1.32")) == Decimal("1.32")
    assert usd_per_unit_to_credits(Decimal("0.02")) == Decimal(20_000)
    assert usd_per_unit_to_credits(Decimal("0.000125")) == Decimal(125)


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_usd_is_the_same_text_and_number_as_before(credits: int) -> None:
    # the admin printed credits / 1_000_000 (a float) with six decimals, and /v1/credits
    # returns that float: the Decimal gives the same text and the same float
    assert f"{credits_to_usd(credits):,.6f}" == f"{credits / 1_000_000:,.6f}"
    assert float(credits_to_usd(credits)) == credits / 1_000_000


def test_admin_and_console_show_usd_as_before() -> None:
    assert credits_display(5_000_000) == "5,000,000 credits ($5.000000)"
    assert credits_display(-150) == "-150 credits ($-0.000150)"
    assert credits_display(None) == "-"
    account_admin = CreditAccountAdmin(CreditAccount, admin.site)
    cell = account_admin.balance_cell(CreditAccount(balance=1_234_567_891))
    assert cell == '<span class="money">1,234,567,891 cr<small>$1,234.567891</small></span>'
    assert (usd(5_000_000), usd(150), usd(-2_500_000)) == ("$5.00", "$0.00015", "-$2.50")


def test_period_starts_at_midnight_utc() -> None:
    # a Thursday, late in the day (UTC)
    now = dt.datetime(2026, 12, 3, 23, 59, tzinfo=dt.UTC)
    assert period_start("day", now) == dt.date(2026, 12, 3)
    assert period_start("week", now) == dt.date(2026, 11, 30)  # its Monday
    assert period_start("month", now) == dt.date(2026, 12, 1)
    # a Monday is its own week's start; a year's first day its month's
    assert period_start("week", dt.datetime(2026, 11, 30, tzinfo=dt.UTC)) == dt.date(2026, 11, 30)
    assert period_start("month", dt.datetime(2027, 1, 1, tzinfo=dt.UTC)) == dt.date(2027, 1, 1)


def test_period_start_counts_in_utc_whatever_the_time_zone() -> None:
    # 01:00 on 1 December at UTC+5 is still 30 November in UTC
    plus5 = dt.timezone(dt.timedelta(hours=5))
    now = dt.datetime(2026, 12, 1, 1, 0, tzinfo=plus5)
    assert period_start("month", now) == dt.date(2026, 11, 1)
    assert period_start("day", now) == dt.date(2026, 11, 30)


def test_period_start_defaults_to_this_month_and_refuses_other_periods() -> None:
    before = dt.datetime.now(dt.UTC).date().replace(day=1)
    started = period_start()
    after = dt.datetime.now(dt.UTC).date().replace(day=1)
    assert started in (before, after) and started.day == 1  # (a month may turn meanwhile)
    with pytest.raises(ValueError, match="day, week, month"):
        period_start("year")  # type: ignore[arg-type]
