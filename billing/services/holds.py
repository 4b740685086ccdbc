"""Holds: credits reserved for a request in flight, and how they end without a charge
(release) or with a dead stream's last checkpoint (the sweeper's settle). The domain's
money errors live here too.

Each function is one short transaction of conditional updates whose row counts decide; no
balance is read, changed in Python and written back. Whoever deletes a Hold row does its
accounting. Amounts are integer credits (1,000,000 credits = 1 USD).
"""

from __future__ import annotations

import datetime as dt
import logging
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Any

import orjson
from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from billing import sql
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


def hold_close(hold: HoldRef) -> bool:
    """Delete the hold row; True if this caller closed it (and so owns its accounting)."""
    deleted, _ = Hold.objects.filter(pk=hold.id).delete()
    return bool(deleted)


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
    if not hold_close(hold):
        return False
    account_apply(account_id=hold.account_id, delta_balance=0, delta_held=-hold.amount)
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
    if not hold_close(ref):
        return None
    charge = max(0, min(hold.checkpoint_credits, hold.amount))
    balance = account_apply(
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
