"""Celery tasks of the gateway: each calls one service and nothing else."""

from __future__ import annotations

from celery import shared_task

from gateway.records import sweeper


@shared_task(name="gateway.tasks.holds_sweep")
def holds_sweep() -> dict[str, int]:
    """Close the holds of requests that died (scheduled every minute; see
    ``gateway.records.sweeper``); returns what it did: holds released, interrupted records written,
    credits charged."""
    report = sweeper.holds_sweep()
    return {
        "released": report.released,
        "interrupted": report.interrupted,
        "charged": report.charged,
    }
