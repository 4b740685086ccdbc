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

import orjson
from django.db import OperationalError, connection, transaction
from django.db.models import JSONField
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
    settle_transaction,
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


@dataclass(frozen=True, slots=True)
class Settled:
    """What closing a request wrote: its Generation's id and the credits charged."""

    generation_id: int | None
    cost: int


@pool_retry
def generation_settle(
    *,
    hold: HoldRef,
    outcome: Outcome,
    cost: Cost,
    status: str = Generation.Status.SUCCESS,
    http_status: int = 200,
    error_code: str = "",
) -> Settled:
    """Charge the request and write its record, atomically: exactly one ledger entry per
    settled Generation. On PostgreSQL both are one statement (see ``billing.sql``)."""
    breakdown = cost.breakdown()
    if is_postgres() and hold.id:
        with settle_transaction(hold, cost.total):
            charge = settle_charge(hold, cost.total)
            statement, params = settle_statement(hold, charge, outcome.model, _settle_tail())
            params.update(_record_params(outcome, status, http_status, error_code, breakdown))
            row = sql_run(statement, params)
            if row is not None:
                key_spend_close(hold, charge)
                return Settled(generation_id=row[2], cost=-row[1])
    generation = outcome.record(
        status=status, http_status=http_status, error_code=error_code, cost_breakdown=breakdown
    )
    with transaction.atomic():
        entry = credits_settle(hold=hold, cost=cost.total, memo=outcome.model)
        generation.cost = -entry.amount
        generation.ledger_entry = entry
        generation.save(force_insert=True)
    return Settled(generation_id=generation.pk, cost=generation.cost)


@pool_retry
def generation_fail(
    *, hold: HoldRef, outcome: Outcome, http_status: int, error_code: str
) -> Settled:
    """Release the hold, charge nothing, and record the failure (one statement on
    PostgreSQL)."""
    status = Generation.Status.ERROR
    if is_postgres() and hold.id:
        with transaction.atomic(savepoint=False) if hold.month else nullcontext():
            statement, params = release_statement(hold, _fail_tail())
            params.update(_record_params(outcome, status, http_status, error_code, {}))
            row = sql_run(statement, params)
            if row and row[1] is not None:
                key_spend_close(hold, 0)
        return Settled(generation_id=row[0] if row else None, cost=0)
    generation = outcome.record(
        status=status, http_status=http_status, error_code=error_code, cost=0
    )
    with transaction.atomic():
        credits_release(hold=hold)
        generation.save(force_insert=True)
    return Settled(generation_id=generation.pk, cost=0)


# The Generation insert of the PostgreSQL statements, built once: every column but the id,
# with the ledger entry and the cost taken from the settle's CTEs.
_SQL_VALUES = {"ledger_entry_id": "{ledger}", "cost": "{cost}", "created_at": "now()"}


@functools.cache
def _generation_insert() -> str:
    columns: list[str] = []
    values: list[str] = []
    for f in Generation._meta.concrete_fields:
        if f.primary_key:
            continue
        columns.append(f'"{f.column}"')
        if f.attname in _SQL_VALUES:
            values.append(_SQL_VALUES[f.attname])
        else:
            values.append(f"%(g_{f.attname})s::{_cast(f)}")
    table = f'"{Generation._meta.db_table}"'
    return f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)}"


def _cast(field: Any) -> str:
    """The parameter's type (its value sits in a SELECT list, where the server cannot infer
    it); text for strings, so an over-long one fails as the ORM's insert would."""
    if isinstance(field, JSONField):
        return "jsonb"
    db_type = field.db_type(connection)
    return "text" if db_type.startswith("varchar") else db_type


@functools.cache
def _settle_tail() -> str:
    insert = _generation_insert().format(ledger="le.id", cost="-le.amount")
    return f", gen AS ({insert} FROM le RETURNING id) SELECT le.id, le.amount, gen.id FROM le, gen"  # noqa: S608


@functools.cache
def _fail_tail() -> str:
    insert = _generation_insert().format(ledger="NULL", cost="0")
    return f", gen AS ({insert} RETURNING id) SELECT gen.id, (SELECT amount FROM h) FROM gen"  # noqa: S608


def _record_params(
    outcome: Outcome, status: str, http_status: int, error_code: str, breakdown: dict[str, str]
) -> dict[str, Any]:
    """The insert's parameters; ``test_generation_insert_covers_every_column`` keeps them in
    step with the model."""
    usage = outcome.usage
    return {
        "g_request_id": outcome.request_id,
        "g_user_id": outcome.user_id,
        "g_api_key_id": outcome.api_key_id,
        "g_model": outcome.model,
        "g_route_id": outcome.route_id,
        "g_provider": outcome.provider,
        "g_upstream_model": outcome.upstream_model,
        "g_surface": outcome.surface,
        "g_status": str(status),
        "g_http_status": http_status,
        "g_error_code": error_code,
        "g_finish_reason": outcome.finish_reason,
        "g_latency_ms": outcome.latency_ms,
        "g_ttft_ms": outcome.ttft_ms,
        "g_prompt_tokens": usage.prompt_tokens,
        "g_completion_tokens": usage.completion_tokens,
        "g_cached_tokens": usage.cached_tokens,
        "g_reasoning_tokens": usage.reasoning_tokens,
        "g_native_usage": _json(outcome.native_usage),
        "g_prices": _json(outcome.prices),
        "g_cost_breakdown": _json(breakdown),
        "g_attempts": _json(outcome.attempts),
        "g_is_streamed": outcome.is_streamed,
        "g_usage_estimated": outcome.usage_estimated,
    }


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()
