"""Reads for ``manage.py verify_ledger``: the media tasks' half of the money invariants.

- an open task that holds credits still has its hold, and the hold outlives the task
  (expires no sooner than the task's deadline), so the holds sweeper never takes it first;
- a finished task has no hold left (its settle or release deleted it);
- a succeeded task has exactly the usage ledger entry of its request, for ``-cost``
  credits;
- a failed or cancelled task has no usage entry (it was refunded, not charged).
"""

from __future__ import annotations

from django.db.models import Exists, F, OuterRef, Q, Subquery

from billing.models import Hold, LedgerEntry
from billing.selectors import sentences_capped
from gateway.media.models import MediaTask


def task_count() -> int:
    return MediaTask.objects.count()


def task_breaches(*, limit: int = 100) -> list[str]:
    """Every breach of the invariants above, as sentences."""
    hold = Hold.objects.filter(pk=OuterRef("hold_id"), request_id=OuterRef("request_id"))
    usage = LedgerEntry.objects.filter(
        kind=LedgerEntry.Kind.USAGE, reference=OuterRef("request_id")
    )
    holding = MediaTask.objects.filter(status__in=MediaTask.OPEN).exclude(hold_id=0)
    unheld = holding.filter(~Exists(hold)).order_by("pk").values_list("public_id", "hold_id")
    short = (
        holding.annotate(expires=Subquery(hold.values("expires_at")[:1]))
        .filter(expires__lt=F("deadline_at"))
        .order_by("pk")
        .values_list("public_id", "hold_id", "expires", "deadline_at")
    )
    still_held = (
        MediaTask.objects.exclude(status__in=MediaTask.OPEN)
        .exclude(hold_id=0)
        .filter(Exists(hold))
        .order_by("pk")
        .values_list("public_id", "status", "hold_id")
    )
    mischarged = (
        MediaTask.objects.filter(status=MediaTask.Status.SUCCEEDED)
        .annotate(charged=Subquery(usage.values("amount")[:1]))
        .filter(Q(charged__isnull=True) | ~Q(charged=-F("cost")))
        .order_by("pk")
        .values_list("public_id", "cost", "charged")
    )
    refunded_charged = (
        MediaTask.objects.filter(status__in=(MediaTask.Status.FAILED, MediaTask.Status.CANCELLED))
        .filter(Exists(usage))
        .order_by("pk")
        .values_list("public_id", "status")
    )
    return [
        *sentences_capped(
            (f"media task {pid}: open but its hold {hold_id} is gone" for pid, hold_id in unheld),
            limit,
        ),
        *sentences_capped(
            (
                f"media task {pid}: its hold {hold_id} expires at {expires:%Y-%m-%d %H:%M:%S}, "
                f"before the task's deadline {deadline:%Y-%m-%d %H:%M:%S}"
                for pid, hold_id, expires, deadline in short
            ),
            limit,
        ),
        *sentences_capped(
            (
                f"media task {pid}: {status} but its hold {hold_id} is still open"
                for pid, status, hold_id in still_held
            ),
            limit,
        ),
        *sentences_capped(
            (
                f"media task {pid}: succeeded at cost {cost} but its usage entry is "
                f"{'missing' if charged is None else charged}"
                for pid, cost, charged in mischarged
            ),
            limit,
        ),
        *sentences_capped(
            (
                f"media task {pid}: {status} (refunded) but charged through a usage entry"
                for pid, status in refunded_charged
            ),
            limit,
        ),
    ]
