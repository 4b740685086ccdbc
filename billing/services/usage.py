"""Usage: charging a request for what it cost and releasing its hold (``billing.ledger``).
The hold bounds the cost, so a balance never goes below zero. Amounts are integer credits
(1,000,000 credits = 1 USD).
"""

from __future__ import annotations

from django.db import transaction

from billing.ledger import HoldRef, ledger
from billing.models import LedgerEntry


def credits_settle(*, hold: HoldRef, cost: int, memo: str = "") -> LedgerEntry:
    """Charge ``cost`` for the request that owns ``hold`` and release the hold, as a step of
    the caller's transaction (joined without a savepoint; one of its own otherwise). The
    outermost form, which also writes the caller's record, is ``ledger().settle``.

    The hold bounds the cost, so the balance cannot go below zero; a cost above it is a
    breach, charged as far as the account can pay. If the hold was already released (the
    sweeper took a request that outlived its expiry), the charge is taken only from what
    is still available.
    """
    with transaction.atomic(savepoint=False):
        return ledger().settle_step(hold=hold, cost=cost, memo=memo).entry
