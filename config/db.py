"""Database infrastructure: the one place, with the ledger's backends (``billing.ledger``),
that knows which database vendor runs.

- ``is_postgres``: the default database's vendor, read once.
- ``run``: one statement of the hot path on psycopg's own cursor (server-side parameters,
  prepared after ``DB_PREPARE_THRESHOLD`` runs).
- ``pool_retry`` / ``pool_timed_out``: a closing write retried while the connection pool is
  exhausted.
- ``snapshot_begin``: a consistent read-only snapshot inside an open transaction.
- ``rows_claim``: rows taken for one worker, which no other worker takes meanwhile.
- ``triggers_installed``: whether the migrations' row triggers exist (PostgreSQL only).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import psycopg
from django.db import (
    DEFAULT_DB_ALIAS,
    NotSupportedError,
    OperationalError,
    connection,
    connections,
    transaction,
)
from django.db.models import Model, Q, QuerySet
from psycopg_pool import PoolTimeout

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")
M = TypeVar("M", bound=Model)


@functools.cache
def is_postgres() -> bool:
    """The default database's vendor, which does not change while the process lives (the
    ``connection`` proxy costs a thread-local lookup on every attribute)."""
    return connection.vendor == "postgresql"


def triggers_installed() -> bool:
    """The row triggers of the migrations (``accounts/migrations/0003``: a key's revision
    moves on every change, by any path) exist: they are installed on PostgreSQL only."""
    return is_postgres()


def snapshot_begin() -> None:
    """Make the transaction just opened one read-only snapshot (PostgreSQL: REPEATABLE READ,
    which blocks no writer). SQLite's transactions already see one snapshot (they begin
    IMMEDIATE and hold the write lock), so there is nothing to do."""
    if is_postgres():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")


def pool_timed_out(exc: BaseException) -> bool:
    """A database error that means no pooled connection came in time (nothing was sent)."""
    return isinstance(exc, PoolTimeout) or isinstance(exc.__cause__, PoolTimeout)


def pool_retry(fn: Callable[P, R]) -> Callable[P, R]:
    """Retry a closing write while the pool is exhausted: the request already happened, so
    its billing must not be dropped for want of a connection. Only a pool timeout is
    retried (no statement reached the database); anything else propagates."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for delay in (0.2, 0.5, 1.0, 2.0, 4.0):
            try:
                return fn(*args, **kwargs)
            except OperationalError as exc:
                if not pool_timed_out(exc):
                    raise
                log.warning("no database connection for %s; retrying in %ss", fn.__name__, delay)
                time.sleep(delay)
        return fn(*args, **kwargs)

    return wrapper


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
    """Execute one statement of the hot path; its first row, if it returns rows. Portable
    SQL runs on any database (through Django's cursor); the rest is for PostgreSQL.

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
    if not is_postgres():
        with connection.cursor() as cursor:  # elsewhere: Django's cursor, same statement
            cursor.execute(sql, params)
            return cursor.fetchone() if cursor.description else None
    conn = connections[DEFAULT_DB_ALIAS]  # once: each ``connection.x`` is a thread-local lookup
    conn.ensure_connection()
    if conn.queries_logged:
        return _execute(conn, conn.make_debug_cursor, sql, params, prepare=False)
    try:
        return _execute(conn, conn.make_cursor, sql, params, prepare=None)
    except NotSupportedError as exc:
        if conn.in_atomic_block or not _stale_plan(exc):
            raise
        _execute(conn, conn.make_cursor, "DEALLOCATE ALL", [], prepare=False)
        return _execute(conn, conn.make_cursor, sql, params, prepare=None)


def _execute(
    conn: Any, wrap: Any, sql: str, params: Any, *, prepare: bool | None
) -> tuple[Any, ...] | None:
    with wrap(_Cursor(conn.connection, prepare=prepare)) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() if cursor.description else None


def rows_claim(
    queryset: QuerySet[M],
    *,
    limit: int,
    claim: dict[str, Any],
    unchanged: Callable[[M], Q],
) -> list[M]:
    """Claim up to ``limit`` rows of ``queryset`` (in its order) for this worker by writing
    ``claim`` to them; the rows as read. On PostgreSQL one transaction locks them with
    ``FOR UPDATE SKIP LOCKED`` (rows another worker is claiming are passed over) and updates
    them at once. Elsewhere (no row locks) each row is claimed by an update conditional on
    ``unchanged(row)``, its columns still as read, so of two workers reading one row only
    one claims it."""
    if is_postgres():
        with transaction.atomic(durable=True):
            rows = list(queryset.select_for_update(skip_locked=True)[:limit])
            queryset.model.objects.filter(pk__in=[r.pk for r in rows]).update(**claim)
        return rows
    claimed: list[M] = []
    for row in queryset[:limit]:
        if queryset.model.objects.filter(unchanged(row), pk=row.pk).update(**claim):
            claimed.append(row)
    return claimed


def _stale_plan(exc: NotSupportedError) -> bool:
    """PostgreSQL's "cached plan must not change result type" (psycopg then forgets its
    prepared statements when it sees ``DEALLOCATE ALL`` run)."""
    cause = exc.__cause__
    return isinstance(cause, psycopg.errors.FeatureNotSupported) and (
        cause.diag.source_function == "RevalidateCachedQuery"
    )
