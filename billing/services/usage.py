"""Usage: charging a request for what it cost and releasing its hold, in one transaction
(one statement on PostgreSQL, see ``billing.sql``). The hold bounds the cost, so a balance
never goes below zero. Amounts are integer credits (1,000,000 credits = 1 USD).
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from typing import Any

from django.db import connection, transaction
from django.db.models import F

from billing import sql
from billing.metrics import HOLD_BREACHES
from billing.models import CreditAccount, Hold, KeySpend, LedgerEntry
from billing.services.holds import HoldRef, account_apply, hold_close, key_spend_close
from billing.sql import is_postgres

log = logging.getLogger(__name__)


def credits_settle(*, hold: HoldRef, cost: int, memo: str = "") -> LedgerEntry:
    """Charge ``cost`` for the request that owns ``hold`` and release the hold. Inside a
    caller's transaction it joins it (no savepoint), so the charge commits with the caller's
    record.

    The hold bounds the cost, so the balance cannot go below zero; a cost above it is a
    breach (see ``settle_charge``), charged as far as the account can pay. If the hold was
    already released (the sweeper took a request that outlived its expiry), the charge is
    taken only from what is still available.
    """
    if is_postgres() and hold.id:
        with settle_transaction(hold, cost):
            charge = settle_charge(hold, cost)
            row = sql.run(
                *settle_statement(hold, charge, memo, "SELECT id, amount, balance_after FROM le")
            )
            if row is not None:
                key_spend_close(hold, charge)
                return ledger_entry_of(hold, row[0], row[1], row[2], memo)
    return _settle_orm(hold=hold, cost=cost, memo=memo)


def settle_transaction(hold: HoldRef, cost: int) -> Any:
    """The transaction a PostgreSQL settle needs: one statement commits alone, unless a key's
    month is updated beside it or a breach locks the account first."""
    if hold.month is not None or cost > hold.amount:
        return transaction.atomic(savepoint=False)
    return nullcontext()


def settle_charge(hold: HoldRef, cost: int) -> int:
    """The credits to charge for ``cost`` (run inside the settle's transaction).

    Normally ``cost`` itself: the hold bounded it. A cost above the hold is a breach of the
    meter's invariant (the bound missed part of the request): it is logged at ERROR with
    the request id, counted in ``gateway_hold_breaches_total``, and charged in full as far
    as the account can pay, with its hold and then its account locked (the order of every
    settle) so that nothing moves the balance meanwhile."""
    if cost <= hold.amount:
        return max(cost, 0)
    log.error(
        "hold breach: request %s cost %s credits, above its hold of %s",
        hold.request_id,
        cost,
        hold.amount,
    )
    HOLD_BREACHES.inc()
    if not hold.id or not Hold.objects.select_for_update().filter(pk=hold.id).exists():
        return cost  # no hold to release: the late settle takes what is available
    balance, held = (
        CreditAccount.objects.select_for_update()
        .values_list("balance", "held")
        .get(pk=hold.account_id)
    )
    return max(0, min(cost, balance - held + hold.amount))


def settle_statement(
    hold: HoldRef, charge: int, memo: str, tail: str
) -> tuple[str, dict[str, Any]]:
    """The PostgreSQL settle as one statement: ``WITH <settle CTEs> <tail>``; ``tail`` may
    read ``le`` (the ledger entry) and add its own CTE-dependent writes."""
    cte, params = sql.settle_cte(
        hold_id=hold.id,
        charge=charge,
        api_key_id=hold.api_key_id,
        request_id=hold.request_id,
        memo=memo,
    )
    return f"WITH {cte} {tail}", params


def ledger_entry_of(
    hold: HoldRef, entry_id: int, amount: int, balance_after: int, memo: str
) -> LedgerEntry:
    """The LedgerEntry a statement just inserted, without reading it back."""
    entry = LedgerEntry(
        id=entry_id,
        account_id=hold.account_id,
        api_key_id=hold.api_key_id,
        amount=amount,
        kind=LedgerEntry.Kind.USAGE,
        reference=hold.request_id,
        memo=memo[:200],
        balance_after=balance_after,
    )
    entry._state.adding = False
    entry._state.db = connection.alias
    return entry


@transaction.atomic(savepoint=False)
def _settle_orm(*, hold: HoldRef, cost: int, memo: str) -> LedgerEntry:
    charge = settle_charge(hold, cost)
    if hold.id == 0:
        balance = CreditAccount.objects.values_list("balance", flat=True).get(pk=hold.account_id)
        charge = 0
    elif hold_close(hold):
        balance = account_apply(
            account_id=hold.account_id, delta_balance=-charge, delta_held=-hold.amount
        )
        if hold.month is not None:
            KeySpend.objects.filter(api_key_id=hold.api_key_id, month=hold.month).update(
                held=F("held") - hold.amount, spent=F("spent") + charge
            )
    else:
        charge, balance = _charge_late(hold, charge)
    return LedgerEntry.objects.create(
        account_id=hold.account_id,
        api_key_id=hold.api_key_id,
        amount=-charge,
        kind=LedgerEntry.Kind.USAGE,
        reference=hold.request_id,
        balance_after=balance,
        memo=memo[:200],
    )


def _charge_late(hold: HoldRef, charge: int) -> tuple[int, int]:
    log.warning("settling %s after its hold was released", hold.request_id)
    account = CreditAccount.objects.select_for_update().get(pk=hold.account_id)
    charge = max(0, min(charge, account.balance - account.held))
    balance = account_apply(account_id=hold.account_id, delta_balance=-charge, delta_held=0)
    if hold.month is not None and charge:
        KeySpend.objects.filter(api_key_id=hold.api_key_id, month=hold.month).update(
            spent=F("spent") + charge
        )
    return charge, balance
