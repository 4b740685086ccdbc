"""Writes of the gateway: closing a request's money and its Generation record in one short
transaction."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from django.db import OperationalError, connection, transaction
from psycopg_pool import PoolTimeout

from billing.pricing import Cost, Usage
from billing.services import (
    HoldRef,
    credits_release,
    credits_settle,
    key_spend_close,
    release_statement,
    settle_charge,
    settle_statement,
)
from billing.sql import is_postgres
from billing.sql import run as sql_run
from gateway.models import Generation

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


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


@dataclass(slots=True)
class Outcome:
    """Everything the record of one request needs, gathered along the way."""

    request_id: str
    user_id: int
    api_key_id: int | None
    surface: str
    model: str = ""
    route_id: int | None = None
    provider: str = ""
    upstream_model: str = ""
    prices: dict[str, str] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    native_usage: dict[str, Any] = field(default_factory=dict)
    usage_estimated: bool = False
    finish_reason: str = ""
    is_streamed: bool = False
    latency_ms: int = 0
    ttft_ms: int | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def record(self, **extra: Any) -> Generation:
        return Generation(
            request_id=self.request_id,
            user_id=self.user_id,
            api_key_id=self.api_key_id,
            model=self.model,
            route_id=self.route_id,
            provider=self.provider,
            upstream_model=self.upstream_model,
            surface=self.surface,
            finish_reason=self.finish_reason,
            latency_ms=self.latency_ms,
            ttft_ms=self.ttft_ms,
            prompt_tokens=self.usage.prompt_tokens,
            completion_tokens=self.usage.completion_tokens,
            cached_tokens=self.usage.cached_tokens,
            reasoning_tokens=self.usage.reasoning_tokens,
            native_usage=self.native_usage,
            prices=self.prices,
            attempts=self.attempts,
            is_streamed=self.is_streamed,
            usage_estimated=self.usage_estimated,
            **extra,
        )


@pool_retry
def generation_settle(
    *,
    hold: HoldRef,
    outcome: Outcome,
    cost: Cost,
    status: str = Generation.Status.SUCCESS,
    http_status: int = 200,
    error_code: str = "",
) -> Generation:
    """Charge the request and write its record, atomically: exactly one ledger entry per
    settled Generation. On PostgreSQL both are one statement (see ``billing.sql``)."""
    generation = outcome.record(
        status=status,
        http_status=http_status,
        error_code=error_code,
        cost_breakdown=cost.breakdown(),
    )
    if is_postgres() and hold.id:
        charge = settle_charge(hold, cost.total)
        insert, params = _insert(generation, source="le", ledger="le.id", cost="-le.amount")
        with transaction.atomic(savepoint=False) if hold.month else nullcontext():
            statement, billing_params = settle_statement(
                hold,
                charge,
                outcome.model,
                f", gen AS ({insert} RETURNING id) SELECT le.id, le.amount, gen.id FROM le, gen",  # noqa: S608
            )
            row = sql_run(statement, {**params, **billing_params})
            if row is not None:
                key_spend_close(hold, charge)
                generation.pk, generation.ledger_entry_id, generation.cost = row[2], row[0], -row[1]
                generation._state.adding = False
                return generation
    with transaction.atomic():
        entry = credits_settle(hold=hold, cost=cost.total, memo=outcome.model)
        generation.cost = -entry.amount
        generation.ledger_entry = entry
        generation.save(force_insert=True)
    return generation


@pool_retry
def generation_fail(
    *, hold: HoldRef, outcome: Outcome, http_status: int, error_code: str
) -> Generation:
    """Release the hold, charge nothing, and record the failure (one statement on
    PostgreSQL)."""
    generation = outcome.record(
        status=Generation.Status.ERROR, http_status=http_status, error_code=error_code, cost=0
    )
    if is_postgres() and hold.id:
        insert, params = _insert(generation, source="", ledger="NULL", cost="0")
        with transaction.atomic(savepoint=False) if hold.month else nullcontext():
            statement, billing_params = release_statement(
                hold,
                f", gen AS ({insert} RETURNING id) SELECT gen.id, (SELECT amount FROM h) FROM gen",  # noqa: S608
            )
            row = sql_run(statement, {**params, **billing_params})
            if row and row[1] is not None:
                key_spend_close(hold, 0)
        generation.pk = row[0] if row else None
        generation._state.adding = False
        return generation
    with transaction.atomic():
        credits_release(hold=hold)
        generation.save(force_insert=True)
    return generation


def _insert(
    generation: Generation, *, source: str, ledger: str, cost: str
) -> tuple[str, dict[str, Any]]:
    """``INSERT INTO generation ... SELECT ...`` of this unsaved record, the ledger entry id
    and the cost taken from SQL expressions over ``source``."""
    columns: list[str] = []
    values: list[str] = []
    params: dict[str, Any] = {}
    for f in Generation._meta.concrete_fields:
        if f.primary_key:
            continue
        columns.append(connection.ops.quote_name(f.column))
        if f.attname == "ledger_entry_id":
            values.append(ledger)
        elif f.attname == "cost":
            values.append(cost)
        else:
            name = f"g_{f.attname}"
            params[name] = f.get_db_prep_save(f.pre_save(generation, add=True), connection)
            values.append(f"%({name})s")
    table = connection.ops.quote_name(Generation._meta.db_table)
    origin = f" FROM {source}" if source else ""
    sql = f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)}{origin}"
    return sql, params
