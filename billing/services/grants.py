"""Grants: credits added (or taken away) through the ledger outside a request: demo and
admin grants, idempotent on their (kind, reference). Amounts are integer credits
(1,000,000 credits = 1 USD).
"""

from __future__ import annotations

from billing.ledger import ledger
from billing.models import LedgerEntry


def credits_grant(
    *,
    user_id: int,
    amount: int,
    kind: str = LedgerEntry.Kind.GRANT,
    reference: str = "",
    memo: str = "",
) -> LedgerEntry:
    """Add (or, negative, take away) credits through the ledger. Taking away never goes below
    what is available. A reference makes the grant idempotent: granting again with the same
    (kind, reference) changes nothing and returns the first entry (the unique constraint
    decides, so two concurrent grants cannot both credit)."""
    return ledger().grant(user_id=user_id, amount=amount, kind=kind, reference=reference, memo=memo)
