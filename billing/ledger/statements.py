"""The PostgreSQL ledger's statements: each step of the money path as one data-modifying
CTE. Executed in autocommit, each locks the account row only while the statement runs and
commits; under load the ORM's several round trips per step, holding the account's row lock
across them, became a convoy. Same tables, same arithmetic, same invariants as the ORM
ledger (the contract tests in tests/billing/ledger/ run both).

Lock order is always account, then the key's monthly spend: for a key with a monthly limit
the spend row is updated by a second statement in the same transaction, so no reserve and
settle can ever wait on each other in opposite orders.

Every text is built once (``functools.cache``), so each becomes one server-side prepared
statement per connection (``config.db.run``).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import orjson
from django.db import connection
from django.db.models import JSONField

from billing.ledger.base import Accumulate, HoldRef, Record
from billing.models import CreditAccount, Hold, KeySpend, LedgerEntry


def _t(model: type) -> str:
    return f'"{model._meta.db_table}"'


def reserve_params(
    hold: HoldRef, *, ttl_seconds: float, is_streamed: bool, check: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "b_amount": hold.amount,
        "b_account": hold.account_id,
        "b_key": hold.api_key_id,
        "b_month": hold.month,
        "b_request": hold.request_id,
        "b_ttl": ttl_seconds,
        "b_streamed": is_streamed,
        **(check or {}),
    }


@functools.cache
def reserve_sql(key_predicate: str | None) -> str:
    """Hold ``b_amount`` on the account if available (and, with ``key_predicate``, only if
    the key passes it) and insert the Hold, expiring in ``b_ttl`` seconds; returns its id
    (no row: refused).

    Its commit does not wait for the WAL flush (``synchronous_commit`` off for this
    transaction only): a reserve lost in a database crash is harmless, since the request dies
    with it and a later settle finds no hold and charges only what is available. Settles
    stay durable."""
    check = f"AND {key_predicate}" if key_predicate else ""
    return f"""
        WITH async_commit AS (SELECT set_config('synchronous_commit', 'off', true)),
        acc AS (
            UPDATE {_t(CreditAccount)} SET held = held + %(b_amount)s, updated_at = now()
            WHERE id = %(b_account)s AND balance >= held + %(b_amount)s AND NOT is_suspended
              {check}
            RETURNING id
        )
        INSERT INTO {_t(Hold)} (account_id, api_key_id, month, amount, request_id, created_at,
                                expires_at, is_streamed, checkpoint_credits)
        SELECT acc.id, %(b_key)s::bigint, %(b_month)s::date, %(b_amount)s, %(b_request)s::text,
               now(), now() + make_interval(secs => %(b_ttl)s::float8), %(b_streamed)s::boolean, 0
        FROM acc, async_commit RETURNING id
    """  # noqa: S608 - table names come from the models, values are parameters


@functools.cache
def checkpoint_sql() -> str:
    """Record a stream's delivered usage on its hold (``b_checkpoint`` is JSON text) and
    renew it: the hold then expires no sooner than ``b_ttl`` seconds from now. One UPDATE by
    primary key; it returns the hold's id, or no row if the hold is already closed. Like the
    reserve, its commit does not wait for the WAL flush: a checkpoint lost in a database
    crash only leaves the sweeper an older one to charge."""
    return f"""
        WITH async_commit AS (SELECT set_config('synchronous_commit', 'off', true))
        UPDATE {_t(Hold)} SET checkpoint_at = statement_timestamp(),
            checkpoint_credits = %(b_credits)s, checkpoint = %(b_checkpoint)s::jsonb,
            expires_at = GREATEST(
                expires_at, statement_timestamp() + make_interval(secs => %(b_ttl)s::float8)
            )
        FROM async_commit WHERE id = %(b_hold)s RETURNING id
    """  # noqa: S608 - statement_timestamp(): the time of this write even inside a transaction


def settle_params(hold: HoldRef, charge: int, memo: str) -> dict[str, Any]:
    return {
        "b_hold": hold.id,
        "b_charge": charge,
        "b_key": hold.api_key_id,
        "b_kind": LedgerEntry.Kind.USAGE,
        "b_request": hold.request_id,
        "b_memo": memo[:200],
    }


_SETTLE_CTE = """
    h AS (DELETE FROM {hold} WHERE id = %(b_hold)s RETURNING account_id, amount),
    acc AS (
        UPDATE {account} a
        SET balance = a.balance - %(b_charge)s, held = a.held - h.amount, updated_at = now()
        FROM h WHERE a.id = h.account_id
        RETURNING a.id, a.balance
    ),
    le AS (
        INSERT INTO {entry} (account_id, api_key_id, amount, kind, reference, memo,
                             balance_after, created_at)
        SELECT acc.id, %(b_key)s::bigint, -%(b_charge)s, %(b_kind)s::text, %(b_request)s::text,
               %(b_memo)s::text, acc.balance, now()
        FROM acc RETURNING id, amount, balance_after
    )"""

_RELEASE_CTE = """
    h AS (DELETE FROM {hold} WHERE id = %(b_hold)s RETURNING account_id, amount),
    acc AS (
        UPDATE {account} a SET held = a.held - h.amount, updated_at = now()
        FROM h WHERE a.id = h.account_id RETURNING a.id
    )"""


def _tables(cte: str) -> str:
    return cte.format(hold=_t(Hold), account=_t(CreditAccount), entry=_t(LedgerEntry))


@functools.cache
def settle_sql(record: type[Record] | None, accumulate: type[Accumulate] | None = None) -> str:
    """Delete the hold, charge ``b_charge`` and release the rest, append the usage entry,
    (with ``record``) insert the caller's row and (with ``accumulate``) add to its bucket;
    returns (entry id, amount, balance_after [, record id]). No row if the hold is already
    gone: nothing happened. Each part reads the one before (``FROM le``), so a settle that
    finds no hold writes nothing at all."""
    cte = _tables(_SETTLE_CTE)
    if accumulate is not None:
        cte += f", acc_add AS ({accumulate_upsert(accumulate, charge_sql='-le.amount')})"
    if record is None:
        return f"WITH {cte} SELECT id, amount, balance_after FROM le"  # noqa: S608
    insert = record_insert(record, entry_sql="le.id", charge_sql="-le.amount")
    return (
        f"WITH {cte}, rec AS ({insert} FROM le RETURNING id) "  # noqa: S608
        "SELECT le.id, le.amount, le.balance_after, rec.id FROM le, rec"
    )


@functools.cache
def release_sql(record: type[Record] | None) -> str:
    """Delete the hold and release it; returns the amount released (no row: already closed)
    or, with ``record``, (record id, amount released or NULL): the row is inserted either
    way."""
    cte = _tables(_RELEASE_CTE)
    if record is None:
        return f"WITH {cte} SELECT amount FROM h"  # noqa: S608
    insert = record_insert(record, entry_sql="NULL", charge_sql="0")
    return (
        f"WITH {cte}, rec AS ({insert} RETURNING id) "  # noqa: S608
        "SELECT rec.id, (SELECT amount FROM h) FROM rec"
    )


@functools.cache
def key_spend_sql() -> str:
    """Move a closed hold's amount out of the key's month (and the charge into spent)."""
    return f"""
        UPDATE {_t(KeySpend)} SET held = held - %(b_held)s, spent = spent + %(b_spent)s
        WHERE api_key_id = %(b_key)s AND month = %(b_month)s::date
    """  # noqa: S608


# --- the caller's record --------------------------------------------------------------------


@functools.cache
def _record_columns(record: type[Record]) -> tuple[tuple[str, str, bool], ...]:
    """(attname, parameter name, is JSON) of each column the record carries."""
    by_attname = {f.attname: f for f in record.table.model._meta.concrete_fields}
    return tuple(
        (f.name, f"g_{f.name}", isinstance(by_attname[f.name], JSONField))
        for f in dataclasses.fields(record)  # type: ignore[arg-type]
    )


@functools.cache
def record_insert(record: type[Record], *, entry_sql: str, charge_sql: str) -> str:
    """``INSERT INTO <table> (<every column but the id>) SELECT <values>``: the record's
    fields as parameters, the ledger's columns from ``entry_sql`` and ``charge_sql``, and
    ``auto_now_add`` columns ``now()``. Every field of the model must be given."""
    table = record.table
    model = table.model
    given = {name for name, _, _ in _record_columns(record)}
    filled = {table.entry_field: entry_sql, table.charge_field: charge_sql}
    columns: list[str] = []
    values: list[str] = []
    for f in model._meta.concrete_fields:
        if f.primary_key:
            continue
        columns.append(f'"{f.column}"')
        if f.attname in filled:
            values.append(filled[f.attname])
        elif getattr(f, "auto_now_add", False) and f.attname not in given:
            values.append("now()")
        elif f.attname in given:
            values.append(f"%(g_{f.attname})s::{_cast(f)}")
        else:
            raise TypeError(f"{record.__name__} gives no value for {model.__name__}.{f.attname}")
    return f"INSERT INTO {_t(model)} ({', '.join(columns)}) SELECT {', '.join(values)}"


def record_params(record: Record) -> dict[str, Any]:
    """The insert's parameters: each field, JSON fields as JSON text."""
    return {
        param: orjson.dumps(getattr(record, name)).decode() if is_json else getattr(record, name)
        for name, param, is_json in _record_columns(type(record))
    }


def _cast(field: Any) -> str:
    """The parameter's type (its value sits in a SELECT list, where the server cannot infer
    it); text for strings, so an over-long one fails as the ORM's insert would."""
    if isinstance(field, JSONField):
        return "jsonb"
    db_type = field.db_type(connection)
    return "text" if db_type.startswith("varchar") else db_type


# --- the caller's running sums --------------------------------------------------------------


@functools.cache
def _accumulate_columns(accumulate: type[Accumulate]) -> dict[str, str]:
    """attname: parameter name, of each column the accumulate carries (``u_`` prefixed)."""
    return {f.name: f"u_{f.name}" for f in dataclasses.fields(accumulate)}  # type: ignore[arg-type]


@functools.cache
def accumulate_upsert(accumulate: type[Accumulate], *, charge_sql: str) -> str:
    """``INSERT INTO <table> AS t (<key>, <sums>) SELECT … FROM le ON CONFLICT (<key>) DO
    UPDATE SET <sum> = t.<sum> + EXCLUDED.<sum>``: one bucket's row made or added to, its
    date the transaction's UTC date (as ``now()`` is the record's ``created_at``), its
    charge ``charge_sql``. Concurrent settles on one bucket each add: the conflict waits
    for the row's lock and adds to the committed sums."""
    table = accumulate.table
    model = table.model
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    given = _accumulate_columns(accumulate)
    columns: list[str] = []
    values: list[str] = []
    for name in (*table.key_fields, *table.sum_fields):
        field = by_attname[name]
        columns.append(f'"{field.column}"')
        if name == table.date_field:
            values.append("(now() AT TIME ZONE 'UTC')::date")
        elif name == table.charge_field:
            values.append(charge_sql)
        elif name in given:
            values.append(f"%({given[name]})s::{_cast(field)}")
        else:
            raise TypeError(f"{accumulate.__name__} gives no value for {model.__name__}.{name}")
    key = ", ".join(f'"{by_attname[n].column}"' for n in table.key_fields)
    sums = ", ".join(
        f'"{c}" = t."{c}" + EXCLUDED."{c}"'
        for c in (by_attname[n].column for n in table.sum_fields)
    )
    return (
        f"INSERT INTO {_t(model)} AS t ({', '.join(columns)}) "  # noqa: S608
        f"SELECT {', '.join(values)} FROM le ON CONFLICT ({key}) DO UPDATE SET {sums}"
    )


def accumulate_params(accumulate: Accumulate) -> dict[str, Any]:
    return {
        param: getattr(accumulate, name)
        for name, param in _accumulate_columns(type(accumulate)).items()
    }
