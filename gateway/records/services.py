"""Writes of the gateway: closing a request's money and its Generation record, in one
write of the ledger (``billing.ledger``): exactly one ledger entry per settled Generation,
and the settled request added to its daily rollup (``gateway.records.usage``) in the same
write. A failure (released) is recorded and adds nothing to the rollups.
"""

from __future__ import annotations

from dataclasses import dataclass

from billing.ledger import HoldRef, ledger
from billing.pricing import Cost
from config.db import pool_retry
from gateway.models import Generation
from gateway.ops.metrics import request_observe
from gateway.records.outcome import Outcome
from gateway.records.usage import UsageRow


@dataclass(frozen=True, slots=True)
class Settled:
    """What closing a request wrote: its Generation's id and the credits charged."""

    generation_id: int | None
    cost: int


@pool_retry
def generation_settle(
    *,
    hold: HoldRef,
    outcome: Outcome,
    cost: Cost,
    status: str = Generation.Status.SUCCESS,
    http_status: int = 200,
    error_code: str = "",
) -> Settled:
    """Charge the request, write its record and add it to its rollup, atomically (one
    statement on PostgreSQL)."""
    row = outcome.row(
        status=status,
        http_status=http_status,
        error_code=error_code,
        cost_breakdown=cost.breakdown(),
    )
    settled = ledger().settle(
        hold=hold, cost=cost.total, memo=outcome.model, record=row, accumulate=UsageRow.of(row)
    )
    request_observe(row, cost=-settled.entry.amount)
    return Settled(generation_id=settled.record_id, cost=-settled.entry.amount)


@pool_retry
def generation_fail(
    *, hold: HoldRef, outcome: Outcome, http_status: int, error_code: str
) -> Settled:
    """Release the hold, charge nothing, and record the failure (one statement on
    PostgreSQL)."""
    row = outcome.row(
        status=Generation.Status.ERROR, http_status=http_status, error_code=error_code
    )
    released = ledger().release(hold=hold, record=row)
    request_observe(row)
    return Settled(generation_id=released.record_id, cost=0)
