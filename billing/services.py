"""Every write to money. Each function is one short transaction made of conditional updates
whose row counts decide; no balance is ever read, changed in Python and written back.

Amounts are integer credits (1,000,000 credits = 1 USD).
"""

from __future__ import annotations

import datetime as dt
import logging
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Any

import orjson
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from billing import sql
from billing.metrics import HOLD_BREACHES
from billing.models import CreditAccount, Hold, KeySpend, LedgerEntry
from billing.sql import is_postgres
from config.errors import ApiError

log = logging.getLogger(__name__)


class InsufficientCredits(ApiError):
    def __init__(self, message: str = "Insufficient credits") -> None:
        super().__init__(402, "insufficient_credits", message)


class KeyLimitExceeded(ApiError):
    def __init__(self, message: str = "The key's monthly spend limit is reached") -> None:
        super().__init__(402, "key_limit_exceeded", message)


@dataclass(frozen=True, slots=True)
class HoldRef:
    """What settle and release need to know of a hold, without reloading it."""

    id: int
    account_id: int
    api_key_id: int | None
    month: dt.date | None
    amount: int
    request_id: str


def month_start(now: dt.datetime | None = None) -> dt.date:
    now = now or timezone.now()
    return now.date().replace(day=1)


def _account_apply(*, account_id: int, delta_balance: int, delta_held: int) -> int:
    """Add to balance and held in one statement; returns the new balance."""
    table = connection.ops.quote_name(CreditAccount._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET balance = balance + %s, held = held + %s, updated_at = %s "  # noqa: S608
            "WHERE id = %s RETURNING balance",
            [delta_balance, delta_held, timezone.now(), account_id],
        )
        return int(cursor.fetchone()[0])


def credits_reserve(
    *,
    account_id: int,
    api_key_id: int | None,
    monthly_limit: int | None,
    amount: int,
    request_id: str,
    ttl_seconds: float,
    key_revision: int | None = None,
    is_streamed: bool = False,
) -> HoldRef:
    """Hold ``amount`` credits for one request: the account must have ``amount`` available
    and, if the key has a monthly limit, the key's month must have room for it.

    The hold expires ``ttl_seconds`` from now: its owner chooses, longer than the request
    may run. ``is_streamed``: the owner checkpoints the hold (``hold_checkpoint``) while it
    runs, so the sweeper may take it once its checkpoints stop (a dead worker).

    With ``key_revision`` (PostgreSQL) the same statement also requires the key to be at
    that revision, not revoked or expired, and its user active and allowed the API; if not,
    nothing is held and InsufficientCredits is raised (the caller then reads the key)."""
    if amount < 0:
        raise ValueError("a hold is not negative")
    limited = monthly_limit is not None and api_key_id is not None
    month = month_start() if limited and amount else None
    ref = HoldRef(
        id=0,
        account_id=account_id,
        api_key_id=api_key_id,
        month=month,
        amount=amount,
        request_id=request_id,
    )
    if amount == 0:
        # A free request's upper bound is zero: nothing to hold, nothing a sweeper could leak.
        return ref
    if is_postgres() and not limited:
        return replace(ref, id=_reserve_account(ref, ttl_seconds, key_revision, is_streamed))
    with transaction.atomic():
        hold_id = _reserve_account(ref, ttl_seconds, key_revision, is_streamed)
        if limited and not _key_spend_hold(api_key_id, month, monthly_limit, amount):  # type: ignore[arg-type]
            raise KeyLimitExceeded(
                f"The key's monthly spend limit of {monthly_limit} credits leaves no room "
                f"for this request (up to {amount} credits)"
            )
    return replace(ref, id=hold_id)


def _reserve_account(
    ref: HoldRef, ttl_seconds: float, key_revision: int | None, is_streamed: bool
) -> int:
    """Hold on the account and create the Hold row; returns its id."""
    if is_postgres():
        row = sql.run(
            *sql.reserve_statement(
                account_id=ref.account_id,
                api_key_id=ref.api_key_id,
                amount=ref.amount,
                request_id=ref.request_id,
                month=ref.month,
                ttl_seconds=ttl_seconds,
                key_revision=key_revision,
                is_streamed=is_streamed,
            )
        )
        if row is None:
            raise _insufficient(ref.amount)
        return int(row[0])
    updated = CreditAccount.objects.filter(
        pk=ref.account_id, balance__gte=F("held") + ref.amount
    ).update(held=F("held") + ref.amount)
    if not updated:
        raise _insufficient(ref.amount)
    hold = Hold.objects.create(
        account_id=ref.account_id,
        api_key_id=ref.api_key_id,
        month=ref.month,
        amount=ref.amount,
        request_id=ref.request_id,
        expires_at=timezone.now() + dt.timedelta(seconds=ttl_seconds),
        is_streamed=is_streamed,
    )
    return hold.id


def _insufficient(amount: int) -> InsufficientCredits:
    return InsufficientCredits(
        f"Insufficient credits: this request needs up to {amount} credits held"
    )


def _key_spend_hold(api_key_id: int, month: dt.date, limit: int, amount: int) -> bool:
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


def _hold_close(hold: HoldRef) -> bool:
    """Delete the hold row; True if this caller closed it (and so owns its accounting)."""
    deleted, _ = Hold.objects.filter(pk=hold.id).delete()
    return bool(deleted)


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


def key_spend_close(hold: HoldRef, charge: int) -> None:
    """After the account (lock order: account, then key spend), move the hold out of the
    key's month."""
    if hold.month is not None:
        sql.run(
            *sql.key_spend_statement(
                api_key_id=hold.api_key_id,
                month=hold.month,  # type: ignore[arg-type]
                held=hold.amount,
                spent=charge,
            )
        )


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
    elif _hold_close(hold):
        balance = _account_apply(
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
    balance = _account_apply(account_id=hold.account_id, delta_balance=-charge, delta_held=0)
    if hold.month is not None and charge:
        KeySpend.objects.filter(api_key_id=hold.api_key_id, month=hold.month).update(
            spent=F("spent") + charge
        )
    return charge, balance


def credits_release(*, hold: HoldRef) -> bool:
    """Release a hold without charging. False if it was already closed (or never held)."""
    if hold.id == 0:
        return False
    if is_postgres():
        with transaction.atomic(savepoint=False) if hold.month else nullcontext():
            row = sql.run(*release_statement(hold, "SELECT amount FROM h"))
            if row is None:
                return False
            key_spend_close(hold, 0)
            return True
    return _release_orm(hold)


def release_statement(hold: HoldRef, tail: str) -> tuple[str, dict[str, Any]]:
    """The PostgreSQL release as one statement: ``WITH <release CTEs> <tail>``."""
    cte, params = sql.release_cte(hold_id=hold.id)
    return f"WITH {cte} {tail}", params


@transaction.atomic(savepoint=False)
def _release_orm(hold: HoldRef) -> bool:
    if not _hold_close(hold):
        return False
    _account_apply(account_id=hold.account_id, delta_balance=0, delta_held=-hold.amount)
    if hold.month is not None:
        KeySpend.objects.filter(api_key_id=hold.api_key_id, month=hold.month).update(
            held=F("held") - hold.amount
        )
    return True


def hold_checkpoint(
    *, hold: HoldRef, credits: int, checkpoint: dict[str, Any], ttl_seconds: float
) -> bool:
    """Record on a stream's hold what its delivered part costs (``credits``) and the record
    the sweeper would write (``checkpoint``, JSON-serialisable), and renew the hold: it
    expires no sooner than ``ttl_seconds`` from now. One UPDATE by primary key in autocommit,
    no transaction; False if the hold is already closed (or was never held)."""
    if hold.id == 0:
        return False
    if is_postgres():
        row = sql.run(
            *sql.checkpoint_statement(
                hold_id=hold.id,
                credits=credits,
                checkpoint=orjson.dumps(checkpoint).decode(),
                ttl_seconds=ttl_seconds,
            )
        )
        return row is not None
    now = timezone.now()
    return bool(
        Hold.objects.filter(pk=hold.id).update(
            checkpoint_at=now,
            checkpoint_credits=credits,
            checkpoint=checkpoint,
            expires_at=Greatest(F("expires_at"), Value(now + dt.timedelta(seconds=ttl_seconds))),
        )
    )


def hold_ref(hold: Hold) -> HoldRef:
    return HoldRef(
        id=hold.id,
        account_id=hold.account_id,
        api_key_id=hold.api_key_id,
        month=hold.month,
        amount=hold.amount,
        request_id=hold.request_id,
    )


@dataclass(frozen=True, slots=True)
class Interrupted:
    """What closing a dead stream's hold charged: its ledger entry, and the checkpoint it
    charged (the hold row as it was deleted)."""

    entry: LedgerEntry
    checkpoint: dict[str, Any]
    checkpoint_at: dt.datetime | None


@transaction.atomic(savepoint=False)
def credits_settle_interrupted(*, hold_id: int, memo: str = "") -> Interrupted | None:
    """Close the hold of a stream whose worker died, charging its last checkpoint's credits
    (never more than the hold) and releasing the rest. Joins the caller's transaction, so
    the caller's record commits with the charge.

    The hold row is locked and read here, so the checkpoint charged is the last one written.
    None if the hold was already closed: whoever deleted the row did its accounting (the
    request's own settle, or another sweeper), so nothing is charged here, not even from
    what is available."""
    hold = Hold.objects.select_for_update().filter(pk=hold_id).first()
    if hold is None:
        return None
    ref = hold_ref(hold)
    if not _hold_close(ref):
        return None
    charge = max(0, min(hold.checkpoint_credits, hold.amount))
    balance = _account_apply(
        account_id=ref.account_id, delta_balance=-charge, delta_held=-ref.amount
    )
    if ref.month is not None:
        KeySpend.objects.filter(api_key_id=ref.api_key_id, month=ref.month).update(
            held=F("held") - ref.amount, spent=F("spent") + charge
        )
    entry = LedgerEntry.objects.create(
        account_id=ref.account_id,
        api_key_id=ref.api_key_id,
        amount=-charge,
        kind=LedgerEntry.Kind.USAGE,
        reference=ref.request_id,
        balance_after=balance,
        memo=memo[:200],
    )
    return Interrupted(
        entry=entry, checkpoint=hold.checkpoint or {}, checkpoint_at=hold.checkpoint_at
    )


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
        balance = _account_apply(account_id=account.pk, delta_balance=amount, delta_held=0)
    return LedgerEntry.objects.create(
        account_id=account.pk,
        amount=amount,
        kind=kind,
        reference=reference,
        memo=memo[:200],
        balance_after=balance,
    )
