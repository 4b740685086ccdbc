"""Grants: credits added (or taken away) through the ledger outside a request: demo and
admin grants, idempotent on their (kind, reference). Amounts are integer credits
(1,000,000 credits = 1 USD).
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.db.models import F

from billing.models import CreditAccount, LedgerEntry
from billing.services.holds import InsufficientCredits, account_apply

log = logging.getLogger(__name__)


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
    try:
        return _grant(user_id=user_id, amount=amount, kind=kind, reference=reference, memo=memo)
    except IntegrityError:
        existing = LedgerEntry.objects.filter(kind=kind, reference=reference).first()
        if not reference or existing is None:
            raise
        return existing


@transaction.atomic
def _grant(*, user_id: int, amount: int, kind: str, reference: str, memo: str) -> LedgerEntry:
    account, _ = CreditAccount.objects.get_or_create(user_id=user_id)
    if amount < 0:
        updated = CreditAccount.objects.filter(
            pk=account.pk, balance__gte=F("held") - amount
        ).update(balance=F("balance") + amount)
        if not updated:
            raise InsufficientCredits("Cannot take away more than the available credits")
        balance = CreditAccount.objects.values_list("balance", flat=True).get(pk=account.pk)
    else:
        balance = account_apply(account_id=account.pk, delta_balance=amount, delta_held=0)
    return LedgerEntry.objects.create(
        account_id=account.pk,
        amount=amount,
        kind=kind,
        reference=reference,
        memo=memo[:200],
        balance_after=balance,
    )
