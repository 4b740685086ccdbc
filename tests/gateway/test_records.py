"""The Generation record written by the single-statement settle (PostgreSQL) matches what
the ORM would write, column for column."""

from __future__ import annotations

import math
import time

import pytest

from billing.ledger.statements import record_insert, record_params
from gateway.models import Generation
from gateway.records.outcome import GenerationRow, Outcome

# What the PostgreSQL ledger's insert of the record fills in itself: the ledger entry, the
# charge and the time.
_SQL_VALUES = {"ledger_entry_id", "cost", "created_at"}


def _record_params(outcome, status, http_status, error_code, breakdown):
    row = outcome.row(
        status=status, http_status=http_status, error_code=error_code, cost_breakdown=breakdown
    )
    return record_params(row)


def _generation_insert():
    return record_insert(GenerationRow, entry_sql="le.id", charge_sql="-le.amount")


UPSTREAM_DELAY_MS = 50  # the fake upstream sleeps this long before it answers


def test_generation_insert_covers_every_column():
    outcome = Outcome(request_id="gen-x", user_id=1, api_key_id=None, surface="chat")
    params = _record_params(outcome, Generation.Status.SUCCESS, 200, "", {})
    given = {name.removeprefix("g_") for name in params} | set(_SQL_VALUES)
    fields = [f for f in Generation._meta.concrete_fields if not f.primary_key]
    assert given == {f.attname for f in fields}
    insert = _generation_insert()
    assert insert.count('"') == 2 * (len(fields) + 1)  # the table and each column once
    for f in fields:
        assert f'"{f.column}"' in insert


@pytest.mark.django_db
def test_settled_record_has_every_value(api, make_model, make_account, provider, upstream):
    """One billed request: the stored record carries the outcome's values, and its latency
    lies between the upstream's known delay and the wall time the client waited."""
    upstream.delay = UPSTREAM_DELAY_MS / 1000
    model = make_model()
    account = make_account(credits=10_000_000)
    body = {
        "model": model.public_id,
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 20,
    }
    began = time.monotonic()
    response = api.post("/v1/chat/completions", body, account=account)
    waited_ms = math.ceil((time.monotonic() - began) * 1000)
    assert response.status_code == 200, response.content
    g = Generation.objects.get(request_id=response.json()["id"])
    usage = response.json()["usage"]
    assert (g.prompt_tokens, g.completion_tokens) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )
    assert g.cost == usage["cost"] and g.cost > 0
    assert g.status == "success" and g.http_status == 200 and g.surface == "chat.completions"
    assert g.model == model.public_id and g.route_id is not None and g.provider
    assert g.ledger_entry.amount == -g.cost
    assert set(g.prices) >= {"prompt", "completion"} and isinstance(g.prices["prompt"], str)
    assert (
        g.cost_breakdown["prompt"]
        and isinstance(g.attempts, list)
        and g.attempts[0]["status"] == 200
    )
    assert g.created_at is not None
    assert UPSTREAM_DELAY_MS <= g.latency_ms <= waited_ms
