"""Reads of users and keys for the console."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.utils.module_loading import import_string

from accounts.models import ApiKey, User
from config.money import period_start


def apikey_list(*, user: User, month: dt.date | None = None) -> QuerySet[ApiKey]:
    """The user's keys, newest first, each annotated with ``month_spent``: credits charged to
    it in ``month`` (the current UTC month by default)."""
    month = month or period_start("month")
    # Through the reverse relation of billing's per-key monthly spend: accounts does not
    # import billing (billing depends on accounts).
    spent = Sum("spends__spent", filter=Q(spends__month=month))
    return (
        ApiKey.objects.filter(user=user)
        .annotate(month_spent=Coalesce(spent, Value(0)))
        .order_by("-created_at", "-id")
    )


def apikey_period_spend_set(keys: list[ApiKey]) -> list[ApiKey]:
    """Set ``period_spend`` on each key: credits charged to it since the start of its period
    (``ACCOUNTS_KEY_SPEND``, the gateway's rollups), whether it has a limit or not."""
    spend = import_string(settings.ACCOUNTS_KEY_SPEND)([key.pk for key in keys])
    for key in keys:
        key.period_spend = spend.get(key.pk, 0)  # type: ignore[attr-defined]
    return keys
