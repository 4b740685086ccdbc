"""Compact cell formats for Django admin's lists, shared by every app's admin: money as
credits with USD beside it, times without seconds' noise, owners by email. Kept short so a
list page shows all its columns at 1280 px."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from config.money import credits_to_usd


def usd_text(credits: int | Decimal) -> str:
    """USD of a number of credits, to the cent when whole cents, else as exact as needed
    (at most 6 decimals, one credit): ``$3.00``, ``$0.00015``, ``-$1.25``."""
    usd = credits_to_usd(credits)
    sign = "-" if usd < 0 else ""
    usd = abs(usd)
    if usd == usd.quantize(Decimal("0.01")):
        return f"{sign}${usd:,.2f}"
    text = f"{usd:,.6f}".rstrip("0")
    return f"{sign}${text}"


def credits_cell(credits: int | None, *, signed: bool = False) -> SafeString | str:
    """``+3,000,000 cr`` with ``$3.00`` under it; ``signed`` puts + on a credit too.
    1,000,000 credits = 1 USD."""
    if credits is None:
        return "–"
    number = f"{credits:+,}" if signed else f"{credits:,}"
    tone = " neg" if credits < 0 else " pos" if signed and credits > 0 else ""
    return format_html(
        '<span class="money{}">{} cr<small>{}</small></span>', tone, number, usd_text(credits)
    )


def cents_cell(cents: int) -> str:
    """A Stripe amount in cents as USD: ``$10.00``."""
    return f"${Decimal(cents) / 100:,.2f}"


def time_cell(value: dt.datetime | None) -> SafeString | str:
    """A timestamp in the current time zone as ``2026-12-02 00:01`` (full value on hover)."""
    if value is None:
        return "–"
    local = timezone.localtime(value)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        value.isoformat(),
        local.strftime("%Y-%m-%d %H:%M:%S %Z"),
        local.strftime("%Y-%m-%d %H:%M"),
    )


def clipped(text: str, *, width: int = 24) -> SafeString | str:
    """Long text cut to ``width`` characters, the whole of it on hover."""
    if len(text) <= width:
        return text
    return format_html('<span title="{}">{}…</span>', text, text[: width - 1])
