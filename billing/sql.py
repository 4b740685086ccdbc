"""The money path on PostgreSQL as single statements.

The ORM path in ``billing.services`` takes several round trips per reserve or settle, and
holds the account's row lock across them; under load that lock becomes a convoy. Here each
step is one data-modifying CTE: executed in autocommit it locks the account row only while
the statement runs and commits. Same tables, same arithmetic, same invariants as the ORM path
(the test suite runs against both: SQLite takes the ORM path).

Lock order is always account, then the key's monthly spend: for a key with a monthly limit
the spend row is updated by a second statement in the same transaction, so no reserve and
settle can ever wait on each other in opposite orders.
"""

from __future__ import annotations

import functools
from typing import Any

import psycopg
from django.db import NotSupportedError, connection

from accounts.models import ApiKey, User
from billing.models import CreditAccount, Hold, KeySpend, LedgerEntry


@functools.cache
def is_postgres() -> bool:
    """The default database's vendor, which does not change while the process lives (the
    ``connection`` proxy costs a thread-local lookup on every attribute)."""
    return connection.vendor == "postgresql"


def _t(model: type) -> str:
    return f'"{model._meta.db_table}"'


def reserve_statement(
    *,
    account_id: int,
    api_key_id: int | None,
    amount: int,
    request_id: str,
    month: Any,
    ttl_seconds: float,
    key_revision: int | None = None,
    is_streamed: bool = False,
) -> tuple[str, dict[str, Any]]:
    """Hold ``amount`` on the account if available and insert the Hold, expiring in
    ``ttl_seconds``; returns its id (no row: not enough credits).

    Its commit does not wait for the WAL flush (``synchronous_commit`` off for this
    transaction only): a reserve lost in a database crash is harmless, since the request dies
    with it and a later settle finds no hold and charges only what is available. Settles
    stay durable."""
    return _reserve_sql(), {
        "b_amount": amount,
        "b_account": account_id,
        "b_key": api_key_id,
        "b_month": month,
        "b_request": request_id,
        "b_ttl": ttl_seconds,
        "b_check": key_revision is not None,
        "b_revision": key_revision,
        "b_streamed": is_streamed,
    }


@functools.cache
def _reserve_sql() -> str:
    return f"""
        WITH async_commit AS (SELECT set_config('synchronous_commit', 'off', true)),
        acc AS (
            UPDATE {_t(CreditAccount)} SET held = held + %(b_amount)s, updated_at = now()
            WHERE id = %(b_account)s AND balance >= held + %(b_amount)s AND NOT is_suspended
              AND (NOT %(b_check)s OR EXISTS (
                SELECT 1 FROM {_t(ApiKey)} k JOIN {_t(User)} u ON u.id = k.user_id
                WHERE k.id = %(b_key)s::bigint AND k.revision = %(b_revision)s::integer
                  AND NOT k.is_disabled AND (k.expires_at IS NULL OR k.expires_at > now())
                  AND u.is_active AND u.is_api_enabled
              ))
            RETURNING id
        )
        INSERT INTO {_t(Hold)} (account_id, api_key_id, month, amount, request_id, created_at,
                                expires_at, is_streamed, checkpoint_credits)
        SELECT acc.id, %(b_key)s::bigint, %(b_month)s::date, %(b_amount)s, %(b_request)s::text,
               now(), now() + make_interval(secs => %(b_ttl)s::float8), %(b_streamed)s::boolean, 0
        FROM acc, async_commit RETURNING id
    """  # noqa: S608 - table names come from the models, values are parameters


def checkpoint_statement(
    *, hold_id: int, credits: int, checkpoint: str, ttl_seconds: float
) -> tuple[str, dict[str, Any]]:
    """Record a stream's delivered usage on its hold (``checkpoint`` is JSON text) and renew
    it: the hold then expires no sooner than ``ttl_seconds`` from now. One UPDATE by primary
    key; it returns the hold's id, or no row if the hold is already closed.

    Like the reserve, its commit does not wait for the WAL flush: a checkpoint lost in a
    database crash only leaves the sweeper an older one to charge."""
    return _checkpoint_sql(), {
        "b_hold": hold_id,
        "b_credits": credits,
        "b_checkpoint": checkpoint,
        "b_ttl": ttl_seconds,
    }


@functools.cache
def _checkpoint_sql() -> str:
    return f"""
        WITH async_commit AS (SELECT set_config('synchronous_commit', 'off', true))
        UPDATE {_t(Hold)} SET checkpoint_at = statement_timestamp(),
            checkpoint_credits = %(b_credits)s, checkpoint = %(b_checkpoint)s::jsonb,
            expires_at = GREATEST(
                expires_at, statement_timestamp() + make_interval(secs => %(b_ttl)s::float8)
            )
        FROM async_commit WHERE id = %(b_hold)s RETURNING id
    """  # noqa: S608 - statement_timestamp(): the time of this write even inside a transaction


def settle_cte(
    *, hold_id: int, charge: int, api_key_id: int | None, request_id: str, memo: str
) -> tuple[str, dict[str, Any]]:
    """CTEs ``h`` (the deleted hold), ``acc`` (the account charged ``charge`` and released),
    ``le`` (the usage ledger entry: id, amount, balance_after). Nothing happens if the hold
    is already gone (then ``le`` is empty and the caller takes the late path)."""
    return _settle_sql(), {
        "b_hold": hold_id,
        "b_charge": charge,
        "b_key": api_key_id,
        "b_kind": LedgerEntry.Kind.USAGE,
        "b_request": request_id,
        "b_memo": memo[:200],
    }


def release_cte(*, hold_id: int) -> tuple[str, dict[str, Any]]:
    """CTEs ``h`` (the deleted hold) and ``acc`` (its amount no longer held)."""
    return _release_sql(), {"b_hold": hold_id}


def key_spend_statement(
    *, api_key_id: int, month: Any, held: int, spent: int
) -> tuple[str, dict[str, Any]]:
    """Move a closed hold's amount out of the key's month (and the charge into spent)."""
    return _key_spend_sql(), {
        "b_held": held,
        "b_spent": spent,
        "b_key": api_key_id,
        "b_month": month,
    }


@functools.cache
def _settle_sql() -> str:
    return f"""
        h AS (DELETE FROM {_t(Hold)} WHERE id = %(b_hold)s RETURNING account_id, amount),
        acc AS (
            UPDATE {_t(CreditAccount)} a
            SET balance = a.balance - %(b_charge)s, held = a.held - h.amount, updated_at = now()
            FROM h WHERE a.id = h.account_id
            RETURNING a.id, a.balance
        ),
        le AS (
            INSERT INTO {_t(LedgerEntry)} (account_id, api_key_id, amount, kind, reference, memo,
                                           balance_after, created_at)
            SELECT acc.id, %(b_key)s::bigint, -%(b_charge)s, %(b_kind)s::text, %(b_request)s::text,
                   %(b_memo)s::text,
                   acc.balance, now()
            FROM acc RETURNING id, amount, balance_after
        )"""  # noqa: S608


@functools.cache
def _release_sql() -> str:
    return f"""
        h AS (DELETE FROM {_t(Hold)} WHERE id = %(b_hold)s RETURNING account_id, amount),
        acc AS (
            UPDATE {_t(CreditAccount)} a SET held = a.held - h.amount, updated_at = now()
            FROM h WHERE a.id = h.account_id RETURNING a.id
        )"""  # noqa: S608


@functools.cache
def _key_spend_sql() -> str:
    return f"""
        UPDATE {_t(KeySpend)} SET held = held - %(b_held)s, spent = spent + %(b_spent)s
        WHERE api_key_id = %(b_key)s AND month = %(b_month)s::date
    """  # noqa: S608


class _Cursor(psycopg.Cursor):
    """psycopg's cursor, preparing the statement or not as told at construction: Django's
    cursor wrapper calls ``execute(sql, params)`` with no way to pass ``prepare``."""

    def __init__(self, conn: psycopg.Connection[Any], *, prepare: bool | None) -> None:
        super().__init__(conn)
        self._prepare = prepare

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> _Cursor:  # type: ignore[override]
        kwargs.setdefault("prepare", self._prepare)
        super().execute(query, params, **kwargs)
        return self


def run(sql: str, params: dict[str, Any] | list[Any]) -> tuple[Any, ...] | None:
    """Execute one statement of the hot path; its first row, if it returns rows.

    On psycopg's own cursor, which sends the parameters apart from the statement (dumped in
    C) instead of quoting each into the SQL text in Python as Django's cursor does: ~5% of
    a request's CPU with the settle's 30 parameters. Parameters that can be NULL or sit in
    a SELECT list carry a cast, since the server cannot infer their type. Django's cursor
    wrapper stays around it: its errors, an open ``atomic()`` block, query logging and
    ``execute_wrapper`` hooks (``CaptureQueriesContext``) all apply as through
    ``connection.cursor()``.

    The statement is a server-side prepared statement once the connection has run it
    ``DB_PREPARE_THRESHOLD`` times (the server then skips parsing and planning: ~0.4 ms of
    its CPU per statement), except while queries are logged: psycopg keeps no SQL text for
    a prepared execution, and the log would show none. A prepared statement whose result
    type a migration changed since (another process ran ``ALTER TABLE``) is refused by the
    server on every later run; outside a transaction the connection then drops its prepared
    statements and the statement runs again, once (the refusal comes before it executes)."""
    connection.ensure_connection()
    if connection.queries_logged:
        return _execute(connection.make_debug_cursor, sql, params, prepare=False)
    try:
        return _execute(connection.make_cursor, sql, params, prepare=None)
    except NotSupportedError as exc:
        if connection.in_atomic_block or not _stale_plan(exc):
            raise
        _execute(connection.make_cursor, "DEALLOCATE ALL", [], prepare=False)
        return _execute(connection.make_cursor, sql, params, prepare=None)


def _execute(wrap: Any, sql: str, params: Any, *, prepare: bool | None) -> tuple[Any, ...] | None:
    with wrap(_Cursor(connection.connection, prepare=prepare)) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() if cursor.description else None


def _stale_plan(exc: NotSupportedError) -> bool:
    """PostgreSQL's "cached plan must not change result type" (psycopg then forgets its
    prepared statements when it sees ``DEALLOCATE ALL`` run)."""
    cause = exc.__cause__
    return isinstance(cause, psycopg.errors.FeatureNotSupported) and (
        cause.diag.source_function == "RevalidateCachedQuery"
    )
