"""The key object of ``/v1/keys`` (OpenRouter's shape) and the checks of its request bodies.

``hash`` is the key's public prefix: unique, stable for the key's life, already shown in the
console and in every label (``sk-<prefix>-…``), and no use without the secret. Limits and
usage are USD numbers (credits / 1,000,000), each with its exact integer ``*_credits``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import Max, Sum
from django.utils import timezone

from accounts.models import ApiKey, ApiKeyEvent, LimitReset
from billing.models import KeySpend
from config.errors import ApiError
from config.money import CREDITS_PER_USD, period_start
from gateway.models import UsageDaily
from gateway.usage_selectors import key_period_spend

MAX_LIMIT_USD = Decimal(1_000_000)
MAX_LIST = 100
EXPIRES_MAX = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)


def usd(credits: int | None) -> float | None:
    return None if credits is None else credits / CREDITS_PER_USD


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def usage_totals(keys: list[ApiKey]) -> dict[str, dict[int, Any]]:
    """Credits charged to each key: in all (``usage``), this UTC day, week and month; and
    ``updated``, the time of its last audit row (every change writes one)."""
    ids = [key.pk for key in keys]
    events = ApiKeyEvent.objects.filter(api_key_id__in=ids).values_list("api_key_id")
    updated = dict(events.annotate(at=Max("created_at")))
    rows = UsageDaily.objects.filter(key_id__in=ids).values_list("key_id").annotate(c=Sum("cost"))
    total = dict.fromkeys(ids, 0) | {k: int(c) for k, c in rows}
    out: dict[str, dict[int, Any]] = {"usage": total, "updated": updated}
    for name, period in (("daily", "day"), ("weekly", "week"), ("monthly", "month")):
        out[name] = key_period_spend(ids, period=period)  # type: ignore[arg-type]
    return out


def limit_remaining(key: ApiKey) -> int | None:
    """What is left of the key's limit in its current period (its KeySpend row: spent and
    held), or None for a key without a limit."""
    if key.monthly_limit is None:
        return None
    row = KeySpend.objects.filter(
        api_key_id=key.pk, month=period_start(key.limit_period)
    ).values_list("spent", "held").first() or (0, 0)
    return max(key.monthly_limit - row[0] - row[1], 0)


def key_data(key: ApiKey, usage: dict[str, dict[int, Any]]) -> dict[str, Any]:
    """The key as ``/v1/keys`` shows it: never its secret."""
    remaining = limit_remaining(key)
    values = {name: usage[name][key.pk] for name in ("daily", "weekly", "monthly")}
    total = usage["usage"][key.pk]
    return {
        "hash": key.prefix,
        "name": key.name,
        "label": key.display,
        "disabled": key.is_disabled,
        "is_management_key": key.kind == "management",
        "limit": usd(key.monthly_limit),
        "limit_remaining": usd(remaining),
        "limit_reset": limit_reset_shown(key),
        "usage": usd(total),
        "usage_daily": usd(values["daily"]),
        "usage_weekly": usd(values["weekly"]),
        "usage_monthly": usd(values["monthly"]),
        "limit_credits": key.monthly_limit,
        "limit_remaining_credits": remaining,
        "usage_credits": total,
        "usage_daily_credits": values["daily"],
        "usage_weekly_credits": values["weekly"],
        "usage_monthly_credits": values["monthly"],
        "allowed_models": key.allowed_models,
        "allowed_ips": key.allowed_ips,
        "rate_limit_rpm": key.rate_limit_rpm,
        "created_at": _iso(key.created_at),
        "updated_at": _iso(usage["updated"].get(key.pk) or key.created_at),
        "expires_at": _iso(key.expires_at),
    }


def _bad(param: str, message: str) -> ApiError:
    return ApiError(400, "invalid_parameter", message, param=param)


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 100 or "\x00" in value:
        raise _bad("name", "name must be a non-empty string of at most 100 characters")
    return value.strip()


def _limit(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad("limit", "limit must be a number of USD, or null")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise _bad("limit", "limit must be a number of USD, or null") from None
    if not amount.is_finite() or amount < 0 or amount > MAX_LIMIT_USD:
        raise _bad("limit", f"limit must be between 0 and {MAX_LIMIT_USD} USD")
    credits = amount * CREDITS_PER_USD
    if credits != credits.to_integral_value():
        # never rounded away silently (0.0000001 USD was stored as a limit of 0)
        raise _bad("limit", "limit must be whole credits: at most 6 decimal places of USD")
    return int(credits)


def _limit_reset(value: Any) -> str:
    if value is None or value == LimitReset.NEVER:
        return LimitReset.NEVER  # OpenRouter's null: the limit never resets
    if not isinstance(value, str) or value not in LimitReset.values:
        raise _bad("limit_reset", "limit_reset must be daily, weekly, monthly or null (never)")
    return value


def limit_reset_shown(key: ApiKey) -> str | None:
    """``limit_reset`` as OpenRouter shows it: null for a limit that never resets and for a
    key without a limit."""
    if key.monthly_limit is None or key.limit_reset == LimitReset.NEVER:
        return None
    return key.limit_reset


def _expires_at(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    when = None
    if isinstance(value, str) and len(value) <= 64:
        try:
            when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            when = None
    if when is None:
        raise _bad("expires_at", "expires_at must be an ISO 8601 date and time, or null")
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    try:
        when = when.astimezone(dt.UTC)
    except OverflowError:  # 9999-12-31T23:59-12:00 is past the last year a datetime holds
        when = None
    if when is None or when >= EXPIRES_MAX:
        raise _bad("expires_at", "expires_at must be before 9999-01-01T00:00:00Z")
    if when <= timezone.now():
        raise _bad("expires_at", "expires_at must be in the future")
    return when


def _strings(param: str, value: Any) -> list[str]:
    if value is None:
        return []
    if (
        not isinstance(value, list)
        or len(value) > 100
        or not all(isinstance(v, str) and 0 < len(v) <= 200 and "\x00" not in v for v in value)
    ):
        raise _bad(param, f"{param} must be a list of strings")
    return value


def _ips(value: Any) -> list[str]:
    cidrs = _strings("allowed_ips", value)
    for cidr in cidrs:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise _bad("allowed_ips", f"{cidr!r} is not an address or CIDR") from None
    return cidrs


def _rpm(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1_000_000:
        raise _bad("rate_limit_rpm", "rate_limit_rpm must be a whole number from 1, or null")
    return value


def _disabled(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _bad("disabled", "disabled must be true or false")
    return value


# body field -> (model field, check)
FIELDS = {
    "name": ("name", _name),
    "limit": ("monthly_limit", _limit),
    "limit_reset": ("limit_reset", _limit_reset),
    "expires_at": ("expires_at", _expires_at),
    "allowed_models": ("allowed_models", lambda v: _strings("allowed_models", v)),
    "allowed_ips": ("allowed_ips", _ips),
    "rate_limit_rpm": ("rate_limit_rpm", _rpm),
}
PATCHABLE = {**FIELDS, "disabled": ("is_disabled", _disabled)}


def body_values(raw: Any, fields: dict[str, Any]) -> dict[str, Any]:
    """The model values of a body: each known field checked; an unknown one refused."""
    if not isinstance(raw, dict):
        raise ApiError(400, "invalid_request", "The body must be a JSON object")
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise _bad(str(unknown[0])[:100], f"Unknown field {str(unknown[0])[:100]!r}")
    return {fields[name][0]: fields[name][1](value) for name, value in raw.items()}
