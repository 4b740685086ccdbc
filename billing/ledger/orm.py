"""The ledger through the ORM: any database Django supports (SQLite in the embedded setup).

Each write is one short transaction of conditional updates whose row counts decide; no
balance is read, changed in Python and written back. Lock order is always hold, account,
then the key's monthly spend. The public methods are the outermost money writes
(``atomic(durable=True)``); the ``*_step`` methods are the same writes as steps of a
transaction the caller holds open.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from billing.ledger.base import (
    Accumulate,
    HoldRef,
    InsufficientCredits,
    Interrupted,
    KeyCheck,
    KeyLimitExceeded,
    Record,
    Released,
    Settled,
)
from billing.ledger.rows import accumulate_write, record_write
from billing.metrics import HOLD_BREACHES
from billing.models import CreditAccount, Hold, KeySpend, LedgerEntry
from config.money import Period, period_start

log = logging.getLogger(__name__)


def month_start(now: dt.datetime | None = None) -> dt.date:
    return period_start("month", now)


def hold_ref(hold: Hold) -> HoldRef:
    return HoldRef(
        id=hold.id,
        account_id=hold.account_id,
        api_key_id=hold.api_key_id,
        month=hold.month,
        amount=hold.amount,
        request_id=hold.request_id,
    )


def insufficient(amount: int) -> InsufficientCredits:
    return InsufficientCredits(
        f"Insufficient credits: this request needs up to {amount} credits held"
    )


def key_limit_exceeded(limit: int, amount: int) -> KeyLimitExceeded:
    return KeyLimitExceeded(
        f"The key's spend limit of {limit} credits leaves no room "
        f"for this request (up to {amount} credits)"
    )


def account_apply(*, account_id: int, delta_balance: int, delta_held: int) -> int:
    """Add to balance and held in one statement; returns the new balance."""
    table = connection.ops.quote_name(CreditAccount._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET balance = balance + %s, held = held + %s, updated_at = %s "  # noqa: S608
            "WHERE id = %s RETURNING balance",
            [delta_balance, delta_held, timezone.now(), account_id],
        )
        return int(cursor.fetchone()[0])


def key_spend_hold(api_key_id: int, month: dt.date, limit: int, amount: int) -> bool:
    def attempt() -> int:
        return KeySpend.objects.filter(
            api_key_id=api_key_id, month=month, spent__lte=limit - amount - F("held")
        ).update(held=F("held") + amount)

    if attempt():
        return True
    if KeySpend.objects.filter(api_key_id=api_key_id, month=month).exists():
        return False
    KeySpend.objects.bulk_create(
        [KeySpend(api_key_id=api_key_id, month=month)], ignore_conflicts=True
    )
    return bool(attempt())


def key_spend_move(hold: HoldRef, *, held: int, spent: int) -> None:
    """Take ``held`` out of the key's month and add ``spent`` to it (after the account)."""
    if hold.month is not None and (held or spent):
        KeySpend.objects.filter(api_key_id=hold.api_key_id, month=hold.month).update(
            held=F("held") - held, spent=F("spent") + spent
        )


def hold_close(hold: HoldRef) -> bool:
    """Delete the hold row; True if this caller closed it (and so owns its accounting)."""
    deleted, _ = Hold.objects.filter(pk=hold.id).delete()
    return bool(deleted)


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


def settle_unheld(hold: HoldRef, charge: int) -> tuple[int, int]:
    """(charged, balance) for a hold that is not there to close: a free request's hold of
    nothing charges nothing; one the sweeper already released (its request outlived the
    hold) is charged only what is available, with the account locked."""
    if hold.id == 0:
        balance = CreditAccount.objects.values_list("balance", flat=True).get(pk=hold.account_id)
        return 0, balance
    log.warning("settling %s after its hold was released", hold.request_id)
    account = CreditAccount.objects.select_for_update().get(pk=hold.account_id)
    charge = max(0, min(charge, account.balance - account.held))
    balance = account_apply(account_id=hold.account_id, delta_balance=-charge, delta_held=0)
    key_spend_move(hold, held=0, spent=charge)
    return charge, balance


def usage_entry(hold: HoldRef, *, charge: int, balance: int, memo: str) -> LedgerEntry:
    return LedgerEntry.objects.create(
        account_id=hold.account_id,
        api_key_id=hold.api_key_id,
        amount=-charge,
        kind=LedgerEntry.Kind.USAGE,
        reference=hold.request_id,
        balance_after=balance,
        memo=memo[:200],
    )


class OrmLedger:
    name = "orm"

    def reserve(
        self,
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
        if amount < 0:
            raise ValueError("a hold is not negative")
        limited = monthly_limit is not None and api_key_id is not None
        month = period_start(limit_period) if limited and amount else None
        ref = HoldRef(0, account_id, api_key_id, month, amount, request_id)
        if amount == 0:
            # A free request's upper bound is zero: nothing to hold, nothing a sweeper could leak.
            return ref
        with transaction.atomic(durable=True):
            if key_check is not None and not key_check.holds():
                raise insufficient(amount)
            updated = CreditAccount.objects.filter(
                pk=account_id, balance__gte=F("held") + amount
            ).update(held=F("held") + amount)
            if not updated:
                raise insufficient(amount)
            hold = Hold.objects.create(
                account_id=account_id,
                api_key_id=api_key_id,
                month=month,
                amount=amount,
                request_id=request_id,
                expires_at=timezone.now() + dt.timedelta(seconds=ttl_seconds),
                is_streamed=is_streamed,
            )
            if limited and not key_spend_hold(api_key_id, month, monthly_limit, amount):  # type: ignore[arg-type]
                raise key_limit_exceeded(monthly_limit, amount)  # type: ignore[arg-type]
        return dataclasses.replace(ref, id=hold.id)

    def settle(
        self,
        *,
        hold: HoldRef,
        cost: int,
        memo: str = "",
        record: Record | None = None,
        accumulate: Accumulate | None = None,
    ) -> Settled:
        with transaction.atomic(durable=True):
            return self.settle_step(
                hold=hold, cost=cost, memo=memo, record=record, accumulate=accumulate
            )

    def settle_step(
        self,
        *,
        hold: HoldRef,
        cost: int,
        memo: str = "",
        record: Record | None = None,
        accumulate: Accumulate | None = None,
    ) -> Settled:
        """``settle`` inside the caller's open transaction."""
        charge = settle_charge(hold, cost)
        if hold.id and hold_close(hold):
            balance = account_apply(
                account_id=hold.account_id, delta_balance=-charge, delta_held=-hold.amount
            )
            key_spend_move(hold, held=hold.amount, spent=charge)
        else:
            charge, balance = settle_unheld(hold, charge)
        entry = usage_entry(hold, charge=charge, balance=balance, memo=memo)
        record_id = record_write(record, entry_id=entry.pk, charge=charge) if record else None
        if accumulate is not None:
            accumulate_write(accumulate, charge=charge)
        return Settled(entry=entry, record_id=record_id)

    def release(self, *, hold: HoldRef, record: Record | None = None) -> Released:
        if hold.id == 0 and record is None:
            return Released(released=False)
        with transaction.atomic(durable=True):
            return self.release_step(hold=hold, record=record)

    def release_step(self, *, hold: HoldRef, record: Record | None = None) -> Released:
        """``release`` inside the caller's open transaction."""
        released = bool(hold.id) and hold_close(hold)
        if released:
            account_apply(account_id=hold.account_id, delta_balance=0, delta_held=-hold.amount)
            key_spend_move(hold, held=hold.amount, spent=0)
        record_id = record_write(record, entry_id=None, charge=0) if record else None
        return Released(released=released, record_id=record_id)

    def checkpoint(
        self, *, hold: HoldRef, credits: int, checkpoint: dict[str, Any], ttl_seconds: float
    ) -> bool:
        if hold.id == 0:
            return False
        now = timezone.now()
        renewed = Greatest(F("expires_at"), Value(now + dt.timedelta(seconds=ttl_seconds)))
        return bool(
            Hold.objects.filter(pk=hold.id).update(
                checkpoint_at=now,
                checkpoint_credits=credits,
                checkpoint=checkpoint,
                expires_at=renewed,
            )
        )

    def settle_interrupted(self, *, hold_id: int, memo: str = "") -> Interrupted | None:
        """The hold row is locked and read here, so the checkpoint charged is the last one
        written. None if the hold was already closed: whoever deleted the row did its
        accounting, so nothing is charged here, not even from what is available."""
        with transaction.atomic(savepoint=False):
            hold = Hold.objects.select_for_update().filter(pk=hold_id).first()
            if hold is None:
                return None
            ref = hold_ref(hold)
            if not hold_close(ref):
                return None
            charge = max(0, min(hold.checkpoint_credits, hold.amount))
            balance = account_apply(
                account_id=ref.account_id, delta_balance=-charge, delta_held=-ref.amount
            )
            key_spend_move(ref, held=ref.amount, spent=charge)
            entry = usage_entry(ref, charge=charge, balance=balance, memo=memo)
        return Interrupted(
            entry=entry, checkpoint=hold.checkpoint or {}, checkpoint_at=hold.checkpoint_at
        )

    def accumulate_step(self, *, accumulate: Accumulate, charge: int) -> None:
        accumulate_write(accumulate, charge=charge)

    def grant(
        self, *, user_id: int, amount: int, kind: str, reference: str = "", memo: str = ""
    ) -> LedgerEntry:
        try:
            with transaction.atomic(durable=True):
                return self._grant(user_id, amount, kind, reference, memo)
        except IntegrityError:
            existing = LedgerEntry.objects.filter(kind=kind, reference=reference).first()
            if not reference or existing is None:
                raise
            return existing

    @staticmethod
    def _grant(user_id: int, amount: int, kind: str, reference: str, memo: str) -> LedgerEntry:
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

    def refund(
        self, *, account_id: int, amount: int, reference: str, memo: str = ""
    ) -> LedgerEntry | None:
        kind = LedgerEntry.Kind.REFUND
        try:
            with transaction.atomic(durable=True):
                account = CreditAccount.objects.select_for_update().get(pk=account_id)
                taken = max(0, min(amount, account.balance - account.held))
                if not taken:  # nothing to take now; what this reference took before, if any
                    return LedgerEntry.objects.filter(kind=kind, reference=reference).first()
                balance = account_apply(account_id=account_id, delta_balance=-taken, delta_held=0)
                return LedgerEntry.objects.create(
                    account_id=account_id,
                    amount=-taken,
                    kind=kind,
                    reference=reference,
                    memo=memo[:200],
                    balance_after=balance,
                )
        except IntegrityError:
            existing = LedgerEntry.objects.filter(kind=kind, reference=reference).first()
            if existing is None:
                raise
            return existing
