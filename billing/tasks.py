"""Celery tasks of billing: each calls one service and nothing else."""

from __future__ import annotations

from celery import shared_task

from billing import services


@shared_task(name="billing.tasks.holds_sweep")
def holds_sweep() -> int:
    """Release the holds of requests that died (scheduled every minute); returns how many."""
    return services.holds_sweep()
