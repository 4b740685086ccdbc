"""Holds: credits reserved for a request in flight, and how they end without a charge
(release) or with a dead stream's last checkpoint (the sweeper's settle). The writes are
the ledger's (``billing.ledger``); these names keep the service layer's ``noun_verb`` form.
Amounts are integer credits (1,000,000 credits = 1 USD).
"""

from __future__ import annotations

from typing import Any

from billing.ledger import (
    HoldRef,
    InsufficientCredits,
    Interrupted,
    KeyCheck,
    KeyLimitExceeded,
    hold_ref,
    ledger,
    month_start,
)
from config.money import Period

__all__ = [
    "HoldRef",
    "InsufficientCredits",
    "Interrupted",
    "KeyLimitExceeded",
    "credits_release",
    "credits_reserve",
    "credits_settle_interrupted",
    "hold_checkpoint",
    "hold_ref",
    "month_start",
]


def credits_reserve(
    *,
    account_id: int,
    api_key_id: int | None,
    monthly_limit: int | None,
    amount: int,
    request_id: str,
    ttl_seconds: float,
    is_streamed: bool = False,
    key_check: KeyCheck | None = None,
    limit_period: Period = "month",
) -> HoldRef:
    """Hold ``amount`` credits for one owner, expiring ``ttl_seconds`` from now (the owner
    chooses: longer than it may run). See ``billing.ledger.base.Ledger.reserve``."""
    return ledger().reserve(
        account_id=account_id,
        api_key_id=api_key_id,
        monthly_limit=monthly_limit,
        amount=amount,
        request_id=request_id,
        ttl_seconds=ttl_seconds,
        is_streamed=is_streamed,
        key_check=key_check,
        limit_period=limit_period,
    )


def credits_release(*, hold: HoldRef) -> bool:
    """Release a hold without charging. False if it was already closed (or never held)."""
    return ledger().release(hold=hold).released


def hold_checkpoint(
    *, hold: HoldRef, credits: int, checkpoint: dict[str, Any], ttl_seconds: float
) -> bool:
    """Record on a stream's hold what its delivered part costs (``credits``) and the record
    the sweeper would write (``checkpoint``, JSON-serialisable), and renew the hold: it
    expires no sooner than ``ttl_seconds`` from now. One UPDATE by primary key in autocommit,
    no transaction; False if the hold is already closed (or was never held)."""
    return ledger().checkpoint(
        hold=hold, credits=credits, checkpoint=checkpoint, ttl_seconds=ttl_seconds
    )


def credits_settle_interrupted(*, hold_id: int, memo: str = "") -> Interrupted | None:
    """Close the hold of a stream whose worker died, charging its last checkpoint's credits
    (never more than the hold) and releasing the rest. Joins the caller's transaction, so
    the caller's record commits with the charge. None if the hold was already closed."""
    return ledger().settle_interrupted(hold_id=hold_id, memo=memo)
