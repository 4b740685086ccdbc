"""Reads for ``manage.py verify_ledger``: the gateway's half of the money invariants, that
every settled Generation has exactly one ledger entry (billing checks its own half in
``billing.selectors.ledger_breaches``)."""

from __future__ import annotations

from django.db.models import F, Q

from billing.models import LedgerEntry
from billing.selectors import sentences_capped
from gateway.models import Generation

# every one of these charged through a ledger entry (an interrupted stream's is the
# sweeper's charge of its last checkpoint)
SETTLED = (
    Generation.Status.SUCCESS,
    Generation.Status.CANCELLED,
    Generation.Status.INTERRUPTED,
)


def generation_count() -> int:
    return Generation.objects.count()


def generation_ledger_breaches(*, limit: int = 100) -> list[str]:
    """Every breach of the one-entry-per-settled-Generation invariant, as sentences.

    - a settled Generation (success, cancelled or interrupted) points to a ledger entry;
    - the entry a Generation points to is the usage entry whose reference is its request id,
      on its user's account, for exactly ``-cost`` credits (usage entries are unique per
      reference, so it is the only one);
    - a Generation without an entry charged nothing;
    - every usage entry belongs to a Generation (both are written in one transaction).
    """
    unsettled = (
        Generation.objects.filter(status__in=SETTLED, ledger_entry__isnull=True)
        .order_by("pk")
        .values_list("request_id", "status")
    )
    mismatched = (
        Generation.objects.filter(ledger_entry__isnull=False)
        .filter(
            ~Q(ledger_entry__kind=LedgerEntry.Kind.USAGE)
            | ~Q(ledger_entry__reference=F("request_id"))
            | ~Q(ledger_entry__amount=-F("cost"))
            | ~Q(ledger_entry__account__user_id=F("user_id"))
        )
        .order_by("pk")
        .values_list(
            "request_id",
            "cost",
            "ledger_entry_id",
            "ledger_entry__kind",
            "ledger_entry__reference",
            "ledger_entry__amount",
        )
    )
    uncharged = (
        Generation.objects.filter(ledger_entry__isnull=True)
        .exclude(cost=0)
        .order_by("pk")
        .values_list("request_id", "cost")
    )
    orphans = (
        LedgerEntry.objects.filter(kind=LedgerEntry.Kind.USAGE, generation__isnull=True)
        .order_by("pk")
        .values_list("pk", "reference", "amount")
    )
    return [
        *sentences_capped(
            (f"generation {rid}: {status} but no ledger entry" for rid, status in unsettled),
            limit,
        ),
        *sentences_capped(
            (
                f"generation {rid}: cost {cost} but its ledger entry {entry} is "
                f"{kind} {reference!r} of {amount}"
                for rid, cost, entry, kind, reference, amount in mismatched
            ),
            limit,
        ),
        *sentences_capped(
            (f"generation {rid}: cost {cost} without a ledger entry" for rid, cost in uncharged),
            limit,
        ),
        *sentences_capped(
            (
                f"ledger entry {pk}: usage {reference!r} of {amount} has no generation"
                for pk, reference, amount in orphans
            ),
            limit,
        ),
    ]
