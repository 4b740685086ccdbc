"""The ledger on PostgreSQL: the hot steps (reserve, settle, release, checkpoint) are single
statements (``billing.ledger.statements``) run in autocommit, or in one short durable
transaction when a key's monthly spend moves beside them or a breach locks the account
first. What is rare (a free request's or a swept hold's settle, grants, refunds, the
sweeper's settle) is the ORM ledger's own code.

One settle path: the statement runs once; if it finds no hold (a free request holds
nothing, or the sweeper released the hold of a request that outlived it) the settle charges
only what is available, as the ORM ledger does.
"""

from __future__ import annotations

import dataclasses
import functools
from contextlib import nullcontext
from typing import Any

import orjson
from django.db import DEFAULT_DB_ALIAS, transaction

from billing.ledger import statements as st
from billing.ledger.base import Accumulate, HoldRef, KeyCheck, Record, Released, Settled
from billing.ledger.orm import (
    OrmLedger,
    insufficient,
    key_limit_exceeded,
    key_spend_hold,
    settle_charge,
    settle_unheld,
    usage_entry,
)
from billing.ledger.rows import accumulate_write, record_write
from billing.models import LedgerEntry
from config import db
from config.money import Period, period_start


class PostgresLedger(OrmLedger):
    name = "postgres"

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
            return ref  # nothing to hold, nothing a sweeper could leak
        sql = st.reserve_sql(key_check.predicate() if key_check is not None else None)
        params = st.reserve_params(
            ref,
            ttl_seconds=ttl_seconds,
            is_streamed=is_streamed,
            check=key_check.params() if key_check is not None else None,
        )
        with transaction.atomic(durable=True) if limited else nullcontext():
            row = db.run(sql, params)
            if row is None:
                raise insufficient(amount)
            if limited and not key_spend_hold(api_key_id, month, monthly_limit, amount):  # type: ignore[arg-type]
                raise key_limit_exceeded(monthly_limit, amount)  # type: ignore[arg-type]
        return dataclasses.replace(ref, id=int(row[0]))

    def settle(
        self,
        *,
        hold: HoldRef,
        cost: int,
        memo: str = "",
        record: Record | None = None,
        accumulate: Accumulate | None = None,
    ) -> Settled:
        if not hold.id or hold.month is not None or cost > hold.amount:
            with transaction.atomic(durable=True):
                return self.settle_step(
                    hold=hold, cost=cost, memo=memo, record=record, accumulate=accumulate
                )
        charge = max(cost, 0)
        settled = self._settle_statement(hold, charge, memo, record, accumulate)  # one statement
        if settled is not None:
            return settled
        with transaction.atomic(durable=True):
            return self._settle_unheld(hold, charge, memo, record, accumulate)

    def settle_step(
        self,
        *,
        hold: HoldRef,
        cost: int,
        memo: str = "",
        record: Record | None = None,
        accumulate: Accumulate | None = None,
    ) -> Settled:
        charge = settle_charge(hold, cost)
        if hold.id:
            settled = self._settle_statement(hold, charge, memo, record, accumulate)
            if settled is not None:
                key_spend_close(hold, charge)
                return settled
        return self._settle_unheld(hold, charge, memo, record, accumulate)

    @staticmethod
    def _settle_statement(
        hold: HoldRef,
        charge: int,
        memo: str,
        record: Record | None,
        accumulate: Accumulate | None,
    ) -> Settled | None:
        params = st.settle_params(hold, charge, memo)
        if record is not None:
            params.update(st.record_params(record))
        if accumulate is not None:
            params.update(st.accumulate_params(accumulate))
        sql = st.settle_sql(
            type(record) if record is not None else None,
            type(accumulate) if accumulate is not None else None,
        )
        row = db.run(sql, params)
        if row is None:
            return None
        entry = ledger_entry_of(hold, row[0], row[1], row[2], memo)
        return Settled(entry=entry, record_id=row[3] if record is not None else None)

    @staticmethod
    def _settle_unheld(
        hold: HoldRef,
        charge: int,
        memo: str,
        record: Record | None,
        accumulate: Accumulate | None,
    ) -> Settled:
        charge, balance = settle_unheld(hold, charge)
        entry = usage_entry(hold, charge=charge, balance=balance, memo=memo)
        record_id = record_write(record, entry_id=entry.pk, charge=charge) if record else None
        if accumulate is not None:
            accumulate_write(accumulate, charge=charge)
        return Settled(entry=entry, record_id=record_id)

    def release(self, *, hold: HoldRef, record: Record | None = None) -> Released:
        if hold.id == 0 and record is None:
            return Released(released=False)
        with transaction.atomic(durable=True) if hold.month else nullcontext():
            return self.release_step(hold=hold, record=record)

    def release_step(self, *, hold: HoldRef, record: Record | None = None) -> Released:
        params: dict[str, Any] = {"b_hold": hold.id}
        if record is not None:
            params.update(st.record_params(record))
        row = db.run(st.release_sql(type(record) if record is not None else None), params)
        if record is None:
            released, record_id = row is not None, None
        else:
            released, record_id = row is not None and row[1] is not None, row[0] if row else None
        if released:
            key_spend_close(hold, 0)
        return Released(released=released, record_id=record_id)

    def checkpoint(
        self, *, hold: HoldRef, credits: int, checkpoint: dict[str, Any], ttl_seconds: float
    ) -> bool:
        if hold.id == 0:
            return False
        params = {
            "b_hold": hold.id,
            "b_credits": credits,
            "b_checkpoint": orjson.dumps(checkpoint).decode(),
            "b_ttl": ttl_seconds,
        }
        return db.run(st.checkpoint_sql(), params) is not None


def key_spend_close(hold: HoldRef, charge: int) -> None:
    """After the account (lock order: account, then key spend), move the hold out of the
    key's month."""
    if hold.month is not None:
        params = {
            "b_held": hold.amount,
            "b_spent": charge,
            "b_key": hold.api_key_id,
            "b_month": hold.month,
        }
        db.run(st.key_spend_sql(), params)


@functools.cache
def _entry_columns() -> tuple[str, ...]:
    return tuple(f.attname for f in LedgerEntry._meta.concrete_fields)


def ledger_entry_of(
    hold: HoldRef, entry_id: int, amount: int, balance_after: int, memo: str
) -> LedgerEntry:
    """The LedgerEntry a statement just inserted, without reading it back: built as a row
    loaded from the database is (``from_db``: positional values in column order), which skips
    the keyword path of ``Model.__init__`` (a pop and a default lookup per field)."""
    values = {
        "id": entry_id,
        "account_id": hold.account_id,
        "api_key_id": hold.api_key_id,
        "amount": amount,
        "kind": LedgerEntry.Kind.USAGE,
        "reference": hold.request_id,
        "memo": memo[:200],
        "balance_after": balance_after,
        "created_at": None,  # the statement's now(), not read back
    }
    return LedgerEntry.from_db(DEFAULT_DB_ALIAS, None, [values[c] for c in _entry_columns()])
