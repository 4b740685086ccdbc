"""Reads of money: spendable amounts, and the invariant check behind verify_ledger."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Sum
from django.utils import timezone

from billing.models import CreditAccount, Hold, KeySpend, LedgerEntry


def spendable_get(
    *,
    account_id: int,
    api_key_id: int | None,
    monthly_limit: int | None,
    month: dt.date | None = None,
) -> int:
    """Credits a new request may hold: the account's available balance, and no more than
    what is left of the key's monthly limit."""
    available = (
        CreditAccount.objects.filter(pk=account_id).values_list("balance", "held").first()
    ) or (0, 0)
    amount = available[0] - available[1]
    if monthly_limit is not None and api_key_id is not None:
        month = month or timezone.now().date().replace(day=1)
        used = KeySpend.objects.filter(api_key_id=api_key_id, month=month).values_list(
            "spent", "held"
        ).first() or (0, 0)
        amount = min(amount, monthly_limit - used[0] - used[1])
    return max(amount, 0)


def key_month_spend(*, api_key_id: int, month: dt.date | None = None) -> tuple[int, int]:
    """(spent, held) of a key in a month (UTC), in credits."""
    month = month or timezone.now().date().replace(day=1)
    row = (
        KeySpend.objects.filter(api_key_id=api_key_id, month=month)
        .values_list("spent", "held")
        .first()
    )
    return row or (0, 0)


def ledger_breaches(*, now: dt.datetime | None = None, hold_grace_seconds: int = 60) -> list[str]:
    """Every breach of the billing invariants, as sentences; empty when all hold."""
    now = now or timezone.now()
    breaches: list[str] = []
    sums = dict(
        LedgerEntry.objects.values("account_id")
        .annotate(s=Sum("amount"))
        .values_list("account_id", "s")
    )
    held = dict(
        Hold.objects.values("account_id").annotate(s=Sum("amount")).values_list("account_id", "s")
    )
    for account in CreditAccount.objects.all().iterator():
        if account.balance != (sums.get(account.pk) or 0):
            breaches.append(
                f"account {account.pk}: balance {account.balance} != ledger sum "
                f"{sums.get(account.pk) or 0}"
            )
        if account.held != (held.get(account.pk) or 0):
            breaches.append(
                f"account {account.pk}: held {account.held} != open holds "
                f"{held.get(account.pk) or 0}"
            )
        if account.balance < 0 or account.held < 0 or account.held > account.balance:
            breaches.append(
                f"account {account.pk}: balance {account.balance}, held "
                f"{account.held} out of bounds"
            )
    key_held = {
        (r["api_key_id"], r["month"]): r["s"]
        for r in Hold.objects.filter(month__isnull=False)
        .values("api_key_id", "month")
        .annotate(s=Sum("amount"))
    }
    for spend in KeySpend.objects.all().iterator():
        expected = key_held.get((spend.api_key_id, spend.month)) or 0
        if spend.held != expected:
            breaches.append(
                f"key {spend.api_key_id} {spend.month}: held {spend.held} != open holds {expected}"
            )
        if spend.spent < 0 or spend.held < 0:
            breaches.append(f"key {spend.api_key_id} {spend.month}: negative spend")
    stale = Hold.objects.filter(expires_at__lt=now - dt.timedelta(seconds=hold_grace_seconds))
    for hold in stale[:20]:
        breaches.append(
            f"hold {hold.pk} ({hold.request_id}) outlived its request "
            f"(expired {hold.expires_at.isoformat()})"
        )
    dupes = (
        LedgerEntry.objects.exclude(reference="")
        .values("kind", "reference")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    breaches.extend(f"ledger: {d['kind']} {d['reference']} appears {d['n']} times" for d in dupes)
    return breaches
