"""What the usage page and the dashboard show of the daily rollups: the charts' tables and the
totals per model and per key, read through the rollup selectors (never the request log), so
a period of any length costs one small query per group-by. Credits; 1,000,000 = 1 USD."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from accounts.models import ApiKey
from gateway.console.charts import ChartTable, chart_table
from gateway.console.usage_source import usage_series, usage_totals

NO_KEY = "no key"


@dataclass(frozen=True)
class Total:
    label: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost: int


def key_labels(user_id: int) -> dict[int, str]:
    """Every key of the user (revoked ones too) as "name (prefix)"; 0 is a request without
    a key. A deleted key's history stays under its id."""
    labels = {0: NO_KEY}
    for key_id, name, prefix in ApiKey.objects.filter(user_id=user_id).values_list(
        "id", "name", "prefix"
    ):
        labels[key_id] = f"{name} ({prefix})"
    return labels


def group_label(group: object, by: str, keys: dict[int, str]) -> str:
    if by != "key":
        return str(group)
    key_id = int(group or 0)  # type: ignore[call-overload]
    return keys.get(key_id, f"deleted key #{key_id}")


def usage_charts(
    *, user_id: int, start: dt.date, end: dt.date, by: str
) -> tuple[ChartTable, ChartTable]:
    """(spend in credits, tokens) per UTC day from ``start`` to ``end``, stacked by ``by``."""
    keys = key_labels(user_id) if by == "key" else {}
    series = usage_series(user_id, start, end, by)
    days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
    rows = [(day, group_label(group, by, keys), p, c, cost) for day, group, _, p, c, cost in series]
    spend = chart_table(
        title="Spend per UTC day, credits (1,000,000 = 1 USD)",
        days=days,
        points=((day, group, cost) for day, group, _, _, cost in rows),
    )
    tokens = chart_table(
        title="Tokens per UTC day (prompt + completion)",
        days=days,
        points=((day, group, p + c) for day, group, p, c, _ in rows),
    )
    return spend, tokens


def usage_totals_by(*, user_id: int, start: dt.date, end: dt.date, by: str) -> list[Total]:
    """The period's totals per model or per key, the largest spend first."""
    keys = key_labels(user_id) if by == "key" else {}
    totals = [
        Total(group_label(group, by, keys), requests, prompt, completion, cost)
        for group, requests, prompt, completion, cost in usage_totals(user_id, start, end, by)
    ]
    return sorted(totals, key=lambda t: (-t.cost, -t.requests, t.label))


def spend_between(*, user_id: int, start: dt.date, end: dt.date) -> int:
    """Credits spent from ``start`` to ``end`` (UTC days, inclusive)."""
    return sum(row[-1] for row in usage_totals(user_id, start, end, "model"))


def models_used(*, user_id: int, start: dt.date, end: dt.date) -> list[str]:
    """The models with usage in the period, for the log's model filter."""
    return sorted({str(row[0]) for row in usage_totals(user_id, start, end, "model")})
