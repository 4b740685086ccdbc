"""Reads for ``manage.py verify_ledger``: the gateway's half of the money invariants, that
every settled Generation has exactly one ledger entry (billing checks its own half in
``billing.selectors.ledger_breaches``), and that the daily rollups are the settled
Generations' sums."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDate

from accounts.models import ApiKey
from billing.models import LedgerEntry
from billing.selectors import sentences_capped
from gateway.models import Generation, UsageDaily

Bucket = tuple[int, int, str, str, dt.date]  # user, key (0: none), model, surface, UTC day
Sums = tuple[int, int, int, int]  # requests, prompt tokens, completion tokens, cost

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


def usage_rollup_breaches(*, limit: int = 100) -> list[str]:
    """Every UsageDaily bucket (user, key, model, surface, UTC day) whose requests, prompt and
    completion tokens and cost differ from the sums of its settled Generations (those with a
    ledger entry: a success, cancelled or interrupted one, or an error that charged what a
    stream delivered), as sentences; a bucket with no row reads as zeros.

    A deleted key's requests lost their key (``api_key`` set NULL) but not their bucket: a
    bucket of a key that no longer exists counts with the no-key bucket, key 0, as the
    backfill builds them. A request settled across midnight has its rollup on the settle's
    UTC day, which may be a day before or after its ``created_at``'s: a difference on one
    day that the next day's exactly undoes is such a request, not a breach."""
    logged: dict[Bucket, Sums] = {}
    groups = (
        Generation.objects.filter(ledger_entry__isnull=False)
        .annotate(day=TruncDate("created_at", tzinfo=dt.UTC))
        .order_by()
        .values_list("user_id", "api_key_id", "model", "surface", "day")
        .annotate(Count("id"), Sum("prompt_tokens"), Sum("completion_tokens"), Sum("cost"))
    )
    for user_id, key_id, model, surface, day, *sums in groups.iterator():
        _add(logged, (user_id, key_id or 0, model, surface, day), sums)
    keys = set(ApiKey.objects.values_list("pk", flat=True))
    rolled: dict[Bucket, Sums] = {}
    buckets = UsageDaily.objects.values_list(
        "user_id",
        "key_id",
        "model",
        "surface",
        "day",
        "requests",
        "prompt_tokens",
        "completion_tokens",
        "cost",
    )
    for user_id, key_id, model, surface, day, *sums in buckets.iterator():
        _add(rolled, (user_id, key_id if key_id in keys else 0, model, surface, day), sums)
    zero: Sums = (0, 0, 0, 0)
    diffs = {
        bucket: tuple(
            r - g for r, g in zip(rolled.get(bucket, zero), logged.get(bucket, zero), strict=True)
        )
        for bucket in logged.keys() | rolled.keys()
    }
    next_day = dt.timedelta(days=1)
    for bucket in sorted(diffs):
        diff, after = diffs[bucket], (*bucket[:4], bucket[4] + next_day)
        if any(diff) and diffs.get(after) == tuple(-d for d in diff):  # type: ignore[arg-type]
            diffs[bucket] = diffs[after] = zero  # type: ignore[index]
    wrong = sorted(bucket for bucket, diff in diffs.items() if any(diff))
    return sentences_capped(
        (
            f"rollup user {bucket[0]} key {bucket[1]} {bucket[2]} {bucket[3]} {bucket[4]}: "
            f"(requests, prompt tokens, completion tokens, cost) {rolled.get(bucket, zero)} "
            "but the "
            f"settled request log sums to {logged.get(bucket, zero)}"
            for bucket in wrong
        ),
        limit,
    )


def _add(sums: dict[Bucket, Sums], bucket: Bucket, values: list[int | None]) -> None:
    old = sums.get(bucket, (0, 0, 0, 0))
    sums[bucket] = tuple(a + int(b or 0) for a, b in zip(old, values, strict=True))  # type: ignore[assignment]
