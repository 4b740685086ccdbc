"""Reads of the daily usage rollups (``UsageDaily``), for charts, totals and per-key spend.

Rollups are written by each settle, in its own transaction, so every read here is current to
the last settled request: no live tail of the request log is needed. Days are UTC dates,
``start_day`` and ``end_day`` both included. Cost in credits; 1,000,000 credits = 1 USD.
A group is the model's public id (``group_by="model"``) or the key's id (``"key"``, 0 for
requests without a key; a deleted key keeps its id).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Literal

from django.db.models import Sum

from accounts.models import ApiKey
from config.money import Period, period_start
from gateway.models import UsageDaily

GroupBy = Literal["model", "key"]
SeriesRow = tuple[dt.date, str | int, int, int, int, int]
TotalRow = tuple[str | int, int, int, int, int]

_GROUP_COLUMN: dict[str, str] = {"model": "model", "key": "key_id"}
_SUMS = ("requests", "prompt_tokens", "completion_tokens", "cost")


def _group_column(group_by: str) -> str:
    try:
        return _GROUP_COLUMN[group_by]
    except KeyError:
        raise ValueError(f"group_by must be model or key: {group_by!r}") from None


def _sums() -> dict[str, Sum]:
    return {name: Sum(name) for name in _SUMS}


def usage_series(
    user_id: int, start_day: dt.date, end_day: dt.date, group_by: GroupBy
) -> list[SeriesRow]:
    """(day, group, requests, prompt_tokens, completion_tokens, cost) per day and group with
    any usage, by day then group. One query over the (user, day) index."""
    column = _group_column(group_by)
    rows = (
        UsageDaily.objects.filter(user_id=user_id, day__gte=start_day, day__lte=end_day)
        .values_list("day", column)
        .annotate(**_sums())
        .order_by("day", column)
    )
    return [(day, group, int(r), int(p), int(c), int(cost)) for day, group, r, p, c, cost in rows]


def usage_totals(
    user_id: int, start_day: dt.date, end_day: dt.date, group_by: GroupBy
) -> list[TotalRow]:
    """(group, requests, prompt_tokens, completion_tokens, cost) per group over the days,
    by group."""
    column = _group_column(group_by)
    rows = (
        UsageDaily.objects.filter(user_id=user_id, day__gte=start_day, day__lte=end_day)
        .values_list(column)
        .annotate(**_sums())
        .order_by(column)
    )
    return [(group, int(r), int(p), int(c), int(cost)) for group, r, p, c, cost in rows]


def key_period(key: ApiKey) -> Period:
    """The period a key's spend is reported for: that of its spend limit (``limit_reset``:
    a UTC day, a week from Monday or a calendar month); a key without a limit reports the
    calendar month."""
    return key.limit_period if key.monthly_limit is not None else "month"


def key_period_spend(
    key_ids: Iterable[int], now: dt.datetime | None = None, period: Period | None = None
) -> dict[int, int]:
    """Credits each key was charged since the start (UTC) of its own period (``key_period``),
    or of ``period`` for every key when given, up to now, every key whether limited or not;
    a key with no usage, or not found, 0. Two
    queries: the keys, then their buckets through the rollup's unique (user, key, …) index.
    The enforcement of limits does not read this: it stays on the key's KeySpend row."""
    ids = list(dict.fromkeys(key_ids))
    spend = dict.fromkeys(ids, 0)
    if not ids:
        return spend
    keys = list(
        ApiKey.objects.filter(pk__in=ids).only("id", "user_id", "monthly_limit", "limit_reset")
    )
    if not keys:
        return spend
    starts = {key.pk: period_start(period or key_period(key), now) for key in keys}
    rows = (
        UsageDaily.objects.filter(
            user_id__in={key.user_id for key in keys},
            key_id__in=list(starts),
            day__gte=min(starts.values()),
        )
        .values_list("key_id", "day")
        .annotate(cost=Sum("cost"))
    )
    for key_id, day, cost in rows:
        if day >= starts[key_id]:
            spend[key_id] += int(cost)
    return spend
