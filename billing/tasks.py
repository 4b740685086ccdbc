"""Celery tasks of billing: each loads ids and calls one service."""

from __future__ import annotations

from celery import shared_task

from billing.services import recharge


@shared_task(name="billing.tasks.auto_recharge")
def auto_recharge(account_id: int) -> str:
    """One auto-recharge attempt for the account, if due (``billing.services.recharge``)."""
    return recharge.recharge_attempt(account_id=account_id)
