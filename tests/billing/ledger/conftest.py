"""The ledger contract's fixtures: every test runs once per backend, ``orm`` on any database
and ``postgres`` on PostgreSQL (so PostgreSQL runs both)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from django.db import connection

from billing.ledger import HoldRef, Ledger, backend_new
from billing.pricing import Usage
from gateway.records.outcome import GenerationRow, Outcome
from tests.factories import Account

BACKENDS = [
    "orm",
    pytest.param(
        "postgres",
        marks=pytest.mark.skipif(
            connection.vendor != "postgresql", reason="the postgres ledger needs PostgreSQL"
        ),
    ),
]

_ids = itertools.count(1)

Reserve = Callable[..., HoldRef]


@pytest.fixture(params=BACKENDS)
def ledger(request: pytest.FixtureRequest, db: None) -> Ledger:
    return backend_new(request.param)


@pytest.fixture
def hold_for(ledger: Ledger) -> Reserve:
    """``hold_for(account, amount, ttl_seconds=900, **kw)``: reserve through the backend."""

    def make(account: Account, amount: int, *, ttl_seconds: float = 900, **kw: object) -> HoldRef:
        return ledger.reserve(
            account_id=account.user.credit_account.pk,
            api_key_id=account.key.pk,
            monthly_limit=account.key.monthly_limit,
            amount=amount,
            request_id=f"gen-ledger-{next(_ids)}",
            ttl_seconds=ttl_seconds,
            **kw,  # type: ignore[arg-type]
        )

    return make


def row_for(
    account: Account,
    hold: HoldRef,
    *,
    status: str = "success",
    model: str = "test/echo",
    usage: Usage | None = None,
) -> GenerationRow:
    """The record a request of ``account`` would hand the ledger with its settle."""
    outcome = Outcome(
        request_id=hold.request_id,
        user_id=account.user.pk,
        api_key_id=account.key.pk,
        surface="chat.completions",
        model=model,
        usage=usage or Usage(),
        prices={"prompt": "1", "completion": "2"},
        native_usage={"prompt_tokens": 3},
        attempts=[{"status": 200}],
    )
    http_status = 200 if status == "success" else 502
    return outcome.row(
        status=status,
        http_status=http_status,
        cost_breakdown={"prompt": "3"} if http_status == 200 else None,
    )
