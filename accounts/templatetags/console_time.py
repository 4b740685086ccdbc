"""Times in the console: in the active time zone (the user's, see accounts.middleware),
with its UTC offset, so a reader never has to guess: ``2026-12-01 23:05 (UTC+01:00)``."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils import timezone

register = template.Library()


def utc_offset(moment: dt.datetime) -> str:
    """``UTC+01:00``, ``UTC-09:30``, ``UTC+00:00``."""
    offset = moment.utcoffset() or dt.timedelta(0)
    sign = "-" if offset < dt.timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


@register.filter
def when(value: dt.datetime | None, precision: str = "minutes") -> str:
    """A datetime in the active zone with its offset; ``precision`` "seconds" adds them,
    "day" shows the date only (with the offset: the day depends on the zone). None: "-"."""
    if not isinstance(value, dt.datetime):
        return "-"
    if timezone.is_naive(value):
        value = timezone.make_aware(value, dt.UTC)
    local = timezone.localtime(value)
    pattern = {"seconds": "%Y-%m-%d %H:%M:%S", "day": "%Y-%m-%d"}.get(precision, "%Y-%m-%d %H:%M")
    return f"{local.strftime(pattern)} ({utc_offset(local)})"


@register.filter
def iso_utc(value: dt.datetime | None) -> str:
    """For ``<time datetime=...>``: ISO 8601 in UTC."""
    if not isinstance(value, dt.datetime):
        return ""
    return value.astimezone(dt.UTC).isoformat(timespec="seconds")
