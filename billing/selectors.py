"""Reads of money: spendable amounts, and the invariant check behind verify_ledger."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.db import connection, transaction
from django.db.models import Count, F, Q, Sum, Window
from django.utils import timezone

from billing.models import CreditAccount, Hold, KeySpend, LedgerEntry
from config import db
from config.money import period_start


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
        month = month or period_start("month")
        used = KeySpend.objects.filter(api_key_id=api_key_id, month=month).values_list(
            "spent", "held"
        ).first() or (0, 0)
        amount = min(amount, monthly_limit - used[0] - used[1])
    return max(amount, 0)


def key_month_spend(*, api_key_id: int, month: dt.date | None = None) -> tuple[int, int]:
    """(spent, held) of a key in a month (UTC), in credits."""
    month = month or period_start("month")
    row = (
        KeySpend.objects.filter(api_key_id=api_key_id, month=month)
        .values_list("spent", "held")
        .first()
    )
    return row or (0, 0)


@contextmanager
def ledger_snapshot() -> Iterator[None]:
    """Run the reads inside in one consistent snapshot, so checks made of several queries
    do not see a request settle between them. Inside an open transaction, that one is used.

    PostgreSQL: a read-only REPEATABLE READ transaction, which blocks no writer. SQLite
    (transactions begin IMMEDIATE): the check holds the write lock while it runs, so writers
    wait for it (up to the busy timeout); the embedded database is small."""
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        db.snapshot_begin()
        yield


def holds_dead(*, now: dt.datetime, stale_seconds: float, limit: int = 1000) -> list[Hold]:
    """Holds whose request died, oldest first: expired ones, and a stream's whose last
    checkpoint (or creation, if it has none) is older than ``stale_seconds``."""
    stale_before = now - dt.timedelta(seconds=stale_seconds)
    dead = (
        Q(expires_at__lt=now)
        | Q(is_streamed=True, checkpoint_at__lt=stale_before)
        | Q(is_streamed=True, checkpoint_at__isnull=True, created_at__lt=stale_before)
    )
    return list(Hold.objects.filter(dead).order_by("pk")[:limit])


def ledger_counts() -> dict[str, int]:
    """How many rows the invariant check covers."""
    return {
        "accounts": CreditAccount.objects.count(),
        "entries": LedgerEntry.objects.count(),
        "holds": Hold.objects.count(),
        "key_spends": KeySpend.objects.count(),
    }


def ledger_breaches(
    *, now: dt.datetime | None = None, hold_grace_seconds: int = 180, limit: int = 100
) -> list[str]:
    """Every breach of the billing invariants, as sentences; empty when all hold.

    ``hold_grace_seconds`` is how long past its expiry a hold may wait for the sweeper;
    ``limit`` caps the sentences of each kind (a last one says how many more there are).
    """
    now = now or timezone.now()
    with ledger_snapshot():
        return [
            *_account_breaches(limit),
            *_running_balance_breaches(limit),
            *_key_spend_breaches(limit),
            *_stale_hold_breaches(now - dt.timedelta(seconds=hold_grace_seconds), limit),
            *_duplicate_breaches(limit),
        ]


def sentences_capped(found: Iterable[str], limit: int) -> list[str]:
    """At most ``limit`` of the sentences, then one saying how many more there were."""
    out: list[str] = []
    more = 0
    for sentence in found:
        if len(out) < limit:
            out.append(sentence)
        else:
            more += 1
    if more:
        out.append(f"... and {more} more like the one above")
    return out


def _account_breaches(limit: int) -> list[str]:
    """balance == sum of the ledger; held == sum of open holds; 0 <= held <= balance."""
    sums = dict(
        LedgerEntry.objects.values("account_id")
        .annotate(s=Sum("amount"))
        .values_list("account_id", "s")
    )
    held = dict(
        Hold.objects.values("account_id").annotate(s=Sum("amount")).values_list("account_id", "s")
    )

    def found() -> Iterator[str]:
        for pk, balance, account_held in CreditAccount.objects.values_list(
            "pk", "balance", "held"
        ).iterator():
            ledger = sums.get(pk) or 0
            if balance != ledger:
                yield f"account {pk}: balance {balance} != ledger sum {ledger}"
            holds = held.get(pk) or 0
            if account_held != holds:
                yield f"account {pk}: held {account_held} != open holds {holds}"
            if balance < 0 or account_held < 0 or account_held > balance:
                yield f"account {pk}: balance {balance}, held {account_held} out of bounds"

    return sentences_capped(found(), limit)


def _running_balance_breaches(limit: int) -> list[str]:
    """Each entry's balance_after is the sum of its account's entries up to it (in id order:
    an entry is inserted while its account's row is locked, so ids follow the balance)."""
    running = LedgerEntry.objects.annotate(
        running=Window(Sum("amount"), partition_by=[F("account_id")], order_by=F("id").asc())
    ).values_list("pk", "account_id", "balance_after", "running")
    found = (
        f"ledger entry {pk} of account {account}: balance_after {after} != running sum {total}"
        for pk, account, after, total in running.order_by("pk").iterator()
        if after != total
    )
    return sentences_capped(found, limit)


def _key_spend_breaches(limit: int) -> list[str]:
    """KeySpend.held == sum of the open holds of that key and month; nothing negative; no
    hold against a key's month without its KeySpend row."""
    key_held = {
        (r["api_key_id"], r["month"]): r["s"]
        for r in Hold.objects.filter(month__isnull=False, api_key__isnull=False)
        .values("api_key_id", "month")
        .annotate(s=Sum("amount"))
    }

    def found() -> Iterator[str]:
        for key_id, month, spent, held in KeySpend.objects.values_list(
            "api_key_id", "month", "spent", "held"
        ).iterator():
            expected = key_held.pop((key_id, month), 0)
            if held != expected:
                yield f"key {key_id} {month}: held {held} != open holds {expected}"
            if spent < 0 or held < 0:
                yield f"key {key_id} {month}: negative spend ({spent} spent, {held} held)"
        for (key_id, month), amount in sorted(key_held.items()):
            yield f"key {key_id} {month}: open holds of {amount} but no KeySpend row"

    return sentences_capped(found(), limit)


def _stale_hold_breaches(expired_before: dt.datetime, limit: int) -> list[str]:
    """A hold never outlives its request: the sweeper releases it soon after it expires."""
    stale = (
        Hold.objects.filter(expires_at__lt=expired_before)
        .order_by("pk")
        .values_list("pk", "request_id", "expires_at")
    )
    found = (
        f"hold {pk} ({request_id}) outlived its request (expired {expires_at.isoformat()})"
        for pk, request_id, expires_at in stale.iterator()
    )
    return sentences_capped(found, limit)


def _duplicate_breaches(limit: int) -> list[str]:
    dupes = (
        LedgerEntry.objects.exclude(reference="")
        .values("kind", "reference")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .order_by("kind", "reference")
    )
    found = (f"ledger: {d['kind']} {d['reference']} appears {d['n']} times" for d in dupes)
    return sentences_capped(found, limit)


def account_month_usage(*, account_id: int, month: dt.date | None = None) -> int:
    """Credits charged for usage to the account since the start of ``month`` (UTC; the
    current month by default), as a positive number."""
    month = month or period_start("month")
    since = dt.datetime.combine(month, dt.time.min, tzinfo=dt.UTC)
    total = LedgerEntry.objects.filter(
        account_id=account_id, kind=LedgerEntry.Kind.USAGE, created_at__gte=since
    ).aggregate(s=Sum("amount"))["s"]
    return -(total or 0)
