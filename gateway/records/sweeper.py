"""The holds sweeper: closes the holds of requests that died, exactly once.

A hold is dead when it expired (every kind of owner sets its own expiry) or, for a stream,
when its last checkpoint (or its creation, if it has none) is older than
``BILLING_HOLD_STALE_SECONDS``: its worker stopped writing them, so it died. Then:

- a hold with a checkpoint is charged the checkpoint's credits (what the stream delivered,
  never more than the hold), the rest released, and the request's Generation written with
  status ``interrupted`` and added to its daily rollup, in one transaction with its one
  ledger entry;
- a hold without one (a request that died before its first checkpoint, or a non-streamed
  one past its expiry) is released uncharged and logged: there is no record of what it
  delivered to write.

Deleting the Hold row is what makes it exactly once: whoever deletes it does the accounting
(a late settle, another sweeper racing this one, or this one). The Celery beat task
(``gateway.tasks.holds_sweep``) and ``manage.py holds_sweep`` run ``holds_sweep``.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.ledger import ledger
from billing.selectors import holds_dead
from billing.services import Interrupted, credits_release, credits_settle_interrupted, hold_ref
from catalog.models import Route
from gateway.models import Generation, SweepRun
from gateway.ops.metrics import request_observe
from gateway.records.usage import UsageRow

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SweepReport:
    """What one sweep did; ``charged`` in credits."""

    released: int = 0
    interrupted: int = 0
    charged: int = 0


def holds_sweep(*, now: dt.datetime | None = None, limit: int = 1000) -> SweepReport:
    """Close every dead hold (up to ``limit``, oldest first) and note the run in SweepRun."""
    now = now or timezone.now()
    report = SweepReport()
    stale = settings.BILLING_HOLD_STALE_SECONDS
    for hold in holds_dead(now=now, stale_seconds=stale, limit=limit):
        if hold.checkpoint:
            generation = generation_interrupt(hold_id=hold.id)
            if generation is not None:
                request_observe(generation, cost=generation.cost)
                report.interrupted += 1
                report.charged += generation.cost
                log.warning(
                    "request %s died mid-stream: charged its checkpoint of %s credits "
                    "(hold %s of %s), recorded as interrupted",
                    hold.request_id,
                    generation.cost,
                    hold.id,
                    hold.amount,
                )
        elif credits_release(hold=hold_ref(hold)):
            report.released += 1
            log.warning(
                "released dead hold %s of %s credits (request %s, no checkpoint)",
                hold.id,
                hold.amount,
                hold.request_id,
            )
    SweepRun.objects.update_or_create(
        pk=1,
        defaults={
            "ran_at": timezone.now(),
            "released": report.released,
            "interrupted": report.interrupted,
            "charged": report.charged,
        },
    )
    return report


@transaction.atomic
def generation_interrupt(*, hold_id: int) -> Generation | None:
    """Charge a dead stream's last checkpoint, write its record as ``interrupted`` and add
    it to its rollup, in one transaction; None if its hold was already closed by someone
    else."""
    closed = credits_settle_interrupted(hold_id=hold_id, memo="interrupted")
    if closed is None:
        return None
    generation = _record(closed)
    generation.save(force_insert=True)
    ledger().accumulate_step(accumulate=UsageRow.of(generation), charge=generation.cost)
    return generation


def _record(closed: Interrupted) -> Generation:
    c: dict[str, Any] = closed.checkpoint
    usage = c.get("usage") or {}
    started = dt.datetime.fromisoformat(c["started_at"]) if c.get("started_at") else None
    latency_ms = 0
    if started is not None and closed.checkpoint_at is not None:
        latency_ms = max(0, int((closed.checkpoint_at - started).total_seconds() * 1000))
    route_id = c.get("route_id")
    if route_id is not None and not Route.objects.filter(pk=route_id).exists():
        route_id = None  # deleted since the request started
    return Generation(
        request_id=closed.entry.reference,
        user_id=c["user_id"],
        api_key_id=closed.entry.api_key_id,
        model=c.get("model") or "",
        route_id=route_id,
        provider=c.get("provider") or "",
        upstream_model=c.get("upstream_model") or "",
        surface=c.get("surface") or "",
        status=Generation.Status.INTERRUPTED,
        http_status=200,
        error_code="worker_lost",
        finish_reason=c.get("finish_reason") or "",
        latency_ms=latency_ms,
        ttft_ms=c.get("ttft_ms"),
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        cached_tokens=int(usage.get("cached_tokens") or 0),
        reasoning_tokens=int(usage.get("reasoning_tokens") or 0),
        native_usage=c.get("native_usage") or {},
        prices=c.get("prices") or {},
        cost=-closed.entry.amount,
        cost_breakdown=c.get("cost_breakdown") or {},
        ledger_entry=closed.entry,
        attempts=c.get("attempts") or [],
        is_streamed=True,
        usage_estimated=bool(c.get("usage_estimated", True)),
    )
