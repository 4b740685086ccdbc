"""The purge of expired Idempotency-Key rows, run by Celery beat (``idempotency-purge``)."""

from __future__ import annotations

from celery import shared_task

from gateway.idempotency.store import purge


@shared_task(name="gateway.idempotency_purge")
def idempotency_purge() -> int:
    return purge()
