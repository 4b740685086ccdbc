"""Top-up packs as JSON: ``{"packs": [{"slug", "name", "price_usd": "10.00", "credits":
10000000, "description"?, "active"?, "sort_order"?}]}``. Import is idempotent on ``slug``;
export writes the same shape. ``credits`` is the whole grant (bonus included), at least the
base rate (``price_usd`` × 1,000,000)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction

from billing.models_payments import TopUpPack
from config.errors import DomainError
from config.money import CREDITS_PER_USD


def _pack_fields(entry: Any, index: int) -> dict[str, Any]:
    where = f"packs[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("slug"), str):
        raise DomainError("invalid_parameter", f"{where}: an object with a slug", param=where)
    try:
        price = Decimal(str(entry["price_usd"]))
        credits = int(entry["credits"])
    except (KeyError, InvalidOperation, TypeError, ValueError) as exc:
        raise DomainError(
            "invalid_parameter", f"{where}: price_usd (decimal text) and credits", param=where
        ) from exc
    if price <= 0 or price != price.quantize(Decimal("0.01")):
        raise DomainError("invalid_parameter", f"{where}: price_usd in cents", param=where)
    if credits < price * CREDITS_PER_USD:
        raise DomainError("invalid_parameter", f"{where}: credits below the base rate", param=where)
    return {
        "name": str(entry.get("name") or entry["slug"])[:100],
        "description": str(entry.get("description") or "")[:300],
        "price_usd": price,
        "credits": credits,
        "is_active": bool(entry.get("active", True)),
        "sort_order": int(entry.get("sort_order", index)),
    }


@transaction.atomic
def packs_import(*, data: Any) -> int:
    """Create or update the packs in ``data`` (matched on slug); returns how many."""
    entries = data.get("packs") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise DomainError("invalid_parameter", 'Expected {"packs": [...]}', param="packs")
    for index, entry in enumerate(entries):
        TopUpPack.objects.update_or_create(
            slug=entry.get("slug") if isinstance(entry, dict) else None,
            defaults=_pack_fields(entry, index),
        )
    return len(entries)


def packs_export() -> dict[str, Any]:
    return {
        "packs": [
            {
                "slug": pack.slug,
                "name": pack.name,
                "description": pack.description,
                "price_usd": f"{pack.price_usd:.2f}",
                "credits": pack.credits,
                "active": pack.is_active,
                "sort_order": pack.sort_order,
            }
            for pack in TopUpPack.objects.order_by("sort_order", "price_usd")
        ]
    }
