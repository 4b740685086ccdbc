"""Template filters for credits (1,000,000 credits = 1 USD)."""

from __future__ import annotations

from django import template

from config.money import credits_to_usd

register = template.Library()


@register.filter
def credits(value: int | None) -> str:
    """``5000000`` -> ``5,000,000``."""
    if value is None or value == "":
        return "-"
    return f"{int(value):,}"


@register.filter
def usd(value: int | None) -> str:
    """Credits as dollars, exact, with at least two decimals: ``5000000`` -> ``$5.00``,
    ``150`` -> ``$0.00015``."""
    if value is None or value == "":
        return "-"
    amount = credits_to_usd(int(value))
    text = f"{abs(amount):,.6f}".rstrip("0")
    whole, _, fraction = text.partition(".")
    sign = "-" if amount < 0 else ""
    return f"{sign}${whole}.{fraction.ljust(2, '0')}"
