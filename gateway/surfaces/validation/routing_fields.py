"""The gateway's own routing fields, on every surface: ``models`` (a fallback list of
model ids), ``provider`` (OpenRouter's provider preferences) and ``transforms``.

Prices in ``provider.max_price`` are USD per 1M tokens (``prompt``, ``completion``) or per
unit (``request``, ``image``): JSON numbers or numeric strings in [0, 10^12].
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from gateway.surfaces.validation.shapes import (
    expect_bool,
    expect_choice,
    expect_object,
    expect_str,
    expect_strings,
    invalid,
)

PRICE_FIELDS = ("prompt", "completion", "request", "image")
SORTS = ("price", "latency", "throughput")
# Far above every real price (USD 10^12 per unit), and small enough for Decimal arithmetic
# (1e999999999 x 10^6 overflows): a limit above it is refused as out of range.
PRICE_CEILING = Decimal(10) ** 12


def price_limit(value: Any, param: str) -> Decimal:
    """A ``max_price`` entry as a Decimal in [0, PRICE_CEILING]; anything else is 400."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise invalid(param, f"{param} must be a number")
    try:
        limit = Decimal(value.strip() if isinstance(value, str) else str(value))
    except (InvalidOperation, ValueError) as exc:
        raise invalid(param, f"{param} must be a number") from exc
    if not limit.is_finite():
        raise invalid(param, f"{param} must be a finite number")
    if not 0 <= limit <= PRICE_CEILING:
        raise invalid(param, f"{param} must be in [0, 1e12] (USD); got {value}")
    return limit


def price_limits(value: Any, param: str = "provider.max_price") -> dict[str, Decimal]:
    """The given ``max_price`` entries (unknown ones are ignored, as by OpenRouter)."""
    raw = expect_object(value, param)
    return {
        name: price_limit(raw[name], f"{param}.{name}")
        for name in PRICE_FIELDS
        if raw.get(name) is not None
    }


def provider_validate(value: Any, param: str = "provider") -> dict[str, Any]:
    """The ``provider`` object, every field the gateway reads checked."""
    raw = expect_object(value, param)
    for name in ("order", "only", "ignore"):
        if raw.get(name) is not None:
            expect_strings(raw[name], f"{param}.{name}", identifier=True)
    if raw.get("sort") is not None:
        expect_choice(raw["sort"], f"{param}.sort", SORTS)
    if raw.get("allow_fallbacks") is not None:
        expect_bool(raw["allow_fallbacks"], f"{param}.allow_fallbacks")
    if raw.get("max_price") is not None:
        price_limits(raw["max_price"], f"{param}.max_price")
    return raw


def routing_fields_validate(body: dict[str, Any]) -> None:
    """``model``, ``models``, ``provider`` and ``transforms`` of any surface's body."""
    if body.get("model") is not None:
        expect_str(body["model"], "model", identifier=True)
    if body.get("models") is not None:
        expect_strings(body["models"], "models", identifier=True)
    if body.get("provider") is not None:
        provider_validate(body["provider"])
    if body.get("transforms") is not None:
        expect_strings(body["transforms"], "transforms")
