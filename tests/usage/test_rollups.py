"""Daily rollups through the live API: every settled request adds to its (user, key, model,
UTC day) bucket as it settles, streamed or not, and the sweeper's interrupted record adds
too, so the rollups equal the request log's settled sums and the ledger's usage entries to
the credit; a failed request adds nothing. On PostgreSQL the rollup rides in the settle's
single statement: a billed request is still two statements."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.services import apikey_create
from billing.models import Hold, LedgerEntry
from billing.services import credits_reserve, hold_checkpoint
from gateway.records.sweeper import holds_sweep
from tests.factories import Account, AccountFactory
from tests.helpers import ApiClient, chat_body
from tests.sse import sse_chunks
from tests.usage.rollup_world import (  # priced_models: a fixture
    START,
    generation_sums,
    priced_models,  # noqa: F401
    rollups,
    today,
)

URL = "/v1/chat/completions"


def served(api: ApiClient, account: Account, model: str, text: str = "one two three") -> int:
    """One billed request; the credits it reports it cost."""
    resp = api.post(URL, chat_body(model, text=text, max_tokens=30), account=account)
    assert resp.status_code == 200, resp.content
    return resp.json()["usage"]["cost"]


def usage_charged(account: Account) -> int:
    entries = LedgerEntry.objects.filter(account=account.user.credit_account, kind="usage")
    return -sum(e.amount for e in entries)


@pytest.mark.usefixtures("priced_models")
def test_each_settled_request_adds_to_its_bucket_and_failures_add_nothing(
    api: ApiClient, make_account: AccountFactory
) -> None:
    # given two accounts, the first with a second key
    first, second = make_account(START), make_account(START)
    other_key = apikey_create(user=first.user, name="second", ignore_tier=True)
    first_b = Account(user=first.user, key=other_key.api_key, secret=other_key.secret)
    # when they make six billed requests (one streamed) and one that fails upstream
    costs = [
        served(api, first, "test/echo"),
        served(api, first, "test/echo", text="four five six seven"),
        served(api, first, "test/other"),
        served(api, first_b, "test/echo"),
        served(api, second, "test/other", text="x"),
    ]
    streamed = api.post(
        URL,
        chat_body("test/echo", stream=True, stream_options={"include_usage": True}),
        account=second,
    )
    assert streamed.status_code == 200
    chunks = sse_chunks(b"".join(streamed.streaming_content))
    costs.append(next(c["usage"]["cost"] for c in chunks if c.get("usage")))
    failed = api.post(URL, chat_body("test/broken", max_tokens=5), account=first)
    assert failed.status_code == 502
    # then one row per bucket, each the sum of its requests, tokens and credits
    day = today()
    u1, k1, k1b, u2, k2 = first.user.pk, first.key.pk, first_b.key.pk, second.user.pk, second.key.pk
    assert rollups() == {
        (u1, k1, "test/echo", day): (2, 20, 9, costs[0] + costs[1]),
        (u1, k1, "test/other", day): (1, 10, 4, costs[2]),
        (u1, k1b, "test/echo", day): (1, 10, 4, costs[3]),
        (u2, k2, "test/other", day): (1, 10, 2, costs[4]),
        (u2, k2, "test/echo", day): (1, 10, 4, costs[5]),
    }
    assert rollups() == generation_sums()
    # and to the credit what the ledger charged each account
    assert usage_charged(first) == sum(costs[:4]) == START - first.balance()
    assert usage_charged(second) == sum(costs[4:]) == START - second.balance()


@pytest.mark.usefixtures("priced_models")
def test_the_sweepers_interrupted_record_adds_its_checkpoint(
    make_account: AccountFactory,
) -> None:
    # given a stream whose worker died after a checkpoint of 700 credits
    account = make_account(100_000)
    hold = credits_reserve(
        account_id=account.user.credit_account.pk,
        api_key_id=account.key.pk,
        monthly_limit=None,
        amount=2_500,
        request_id="gen-usage-interrupted",
        ttl_seconds=900,
        is_streamed=True,
    )
    started = timezone.now() - dt.timedelta(seconds=90)
    checkpoint: dict[str, Any] = {
        "user_id": account.user.pk,
        "surface": "chat.completions",
        "model": "test/echo",
        "started_at": started.isoformat(),
        "usage": {"prompt_tokens": 10, "completion_tokens": 9},
    }
    assert hold_checkpoint(hold=hold, credits=700, checkpoint=checkpoint, ttl_seconds=900)
    past = timezone.now() - dt.timedelta(seconds=60)
    Hold.objects.filter(pk=hold.id).update(created_at=past, checkpoint_at=past)
    # when the sweeper closes it (twice: the second finds nothing)
    assert holds_sweep().interrupted == 1
    assert holds_sweep().interrupted == 0
    # then its bucket holds the one request and the 700 credits charged
    assert rollups() == {(account.user.pk, account.key.pk, "test/echo", today()): (1, 10, 9, 700)}
    assert rollups() == generation_sums()
    assert account.balance() == 100_000 - 700


@pytest.mark.usefixtures("priced_models")
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the settle statement is PostgreSQL's"
)
def test_a_billed_request_is_still_two_statements_with_its_rollup(
    api: ApiClient, make_account: AccountFactory
) -> None:
    account = make_account(START)
    served(api, account, "test/echo")
    with CaptureQueriesContext(connection) as ctx:
        served(api, account, "test/echo")
    statements = [q["sql"] for q in ctx.captured_queries if "catalogrevision" not in q["sql"]]
    assert len(statements) == 2, statements
    settle = statements[1]
    assert 'DELETE FROM "billing_hold"' in settle and 'INSERT INTO "gateway_generation"' in settle
    assert 'INSERT INTO "gateway_usagedaily"' in settle and "ON CONFLICT" in settle
    assert rollups()[(account.user.pk, account.key.pk, "test/echo", today())][0] == 2
