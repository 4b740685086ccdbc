"""Units of money and of spending periods, defined once for every app.

Money is integer credits: ``CREDITS_PER_USD`` (1,000,000) credits are one US dollar, so a
price quoted in USD per 1M tokens is exactly credits per token. USD amounts are ``Decimal``,
never ``float``: ``credits_to_usd`` is exact for any number of credits.

Spending periods (a key's monthly limit, and day or week limits) start at midnight UTC:
the day itself, the Monday of the week (ISO), the first of the month; a limit that never
resets has the one period ``NEVER_START``. A period is named by its first day, as
``KeySpend.month`` is.

This module imports nothing of the apps, so catalog, accounts, billing and gateway all use
it without breaking the direction of their dependencies.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_DOWN, Decimal
from typing import Literal

from django.utils import timezone

CREDITS_PER_USD = 1_000_000

Period = Literal["day", "week", "month", "never"]
PERIODS: tuple[Period, ...] = ("day", "week", "month", "never")
# The one period of a limit that never resets: every spend of such a key is counted in the
# KeySpend row of this day, so the row never rolls over (and the reserve locks it as any).
NEVER_START = dt.date(1970, 1, 1)


def credits_to_usd(credits: int | Decimal) -> Decimal:
    """Credits (or credits per unit) as USD, exact: ``1_500_000`` -> ``Decimal("1.5")``."""
    return Decimal(credits) / CREDITS_PER_USD


def usd_to_credits(usd: Decimal) -> int:
    """USD as whole credits; a fraction of a credit is dropped (``0.0000015`` USD is 1)."""
    return int((usd * CREDITS_PER_USD).to_integral_value(rounding=ROUND_DOWN))


def usd_per_unit_to_credits(usd: Decimal) -> Decimal:
    """A price in USD per unit (request, image, second) as credits per unit, unrounded."""
    return usd * CREDITS_PER_USD


def usd_per_million_to_credits(usd: Decimal) -> Decimal:
    """A price in USD per 1M tokens as credits per token: the same number, since a USD is
    as many credits (``CREDITS_PER_USD``) as a price quote has tokens."""
    return usd


def period_start(period: Period = "month", now: dt.datetime | None = None) -> dt.date:
    """The first day (UTC) of the ``period`` holding ``now`` (the current time by default):
    the day itself, the Monday of its ISO week, the first of its month, or ``NEVER_START``
    for ``"never"`` whatever ``now``. A naive ``now`` is taken to be UTC."""
    now = now or timezone.now()
    today = (now.astimezone(dt.UTC) if timezone.is_aware(now) else now).date()
    if period == "month":
        return today.replace(day=1)
    if period == "week":
        return today - dt.timedelta(days=today.weekday())
    if period == "day":
        return today
    if period == "never":
        return NEVER_START
    raise ValueError(f"period must be one of {', '.join(PERIODS)}: {period!r}")
