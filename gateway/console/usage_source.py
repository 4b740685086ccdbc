"""The rollup selectors the console reads (one import site, so the pages follow them if they
move)."""

from __future__ import annotations

import datetime as dt
from typing import Any


def usage_series(user_id: int, start: dt.date, end: dt.date, group_by: str) -> list[Any]:
    from gateway.usage_selectors import usage_series as series

    return series(user_id, start, end, group_by)


def usage_totals(user_id: int, start: dt.date, end: dt.date, group_by: str) -> list[Any]:
    from gateway.usage_selectors import usage_totals as totals

    return totals(user_id, start, end, group_by)
