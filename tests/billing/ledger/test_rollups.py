"""The ledger's running sums (``Accumulate``), the same on both backends: every settle that
writes a record adds the request and its charge to its bucket in the same write, so the
daily rollups equal the settled Generations' sums per (user, key, model, UTC day), to the
credit, whichever path the settle took; a release adds nothing."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections import defaultdict

import pytest
from django.db import connection, connections, transaction

from billing.ledger import HoldRef, Ledger
from billing.pricing import Usage
from gateway.models import Generation, UsageDaily
from gateway.records.usage import UsageRow
from tests.billing.conftest import account_row
from tests.billing.ledger.conftest import Reserve, row_for
from tests.factories import Account, AccountFactory

Bucket = tuple[int, int, str, dt.date]
Sums = tuple[int, int, int, int]


def rollups() -> dict[Bucket, Sums]:
    """Every UsageDaily row: (user, key, model, day) -> (requests, prompt, completion, cost)."""
    return {
        (u, k, m, d): (r, p, c, cost)
        for u, k, m, d, r, p, c, cost in UsageDaily.objects.values_list(
            "user_id",
            "key_id",
            "model",
            "day",
            "requests",
            "prompt_tokens",
            "completion_tokens",
            "cost",
        )
    }


def generation_sums() -> dict[Bucket, Sums]:
    """The same sums computed from the settled Generations (those with a ledger entry)."""
    sums: dict[Bucket, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for g in Generation.objects.filter(ledger_entry__isnull=False):
        bucket = (g.user_id, g.api_key_id or 0, g.model, g.created_at.astimezone(dt.UTC).date())
        for i, value in enumerate((1, g.prompt_tokens, g.completion_tokens, g.cost)):
            sums[bucket][i] += value
    return {bucket: tuple(v) for bucket, v in sums.items()}  # type: ignore[misc]


def settle(
    ledger: Ledger,
    account: Account,
    hold: HoldRef,
    cost: int,
    *,
    model: str = "test/echo",
    usage: Usage | None = None,
) -> int:
    """Settle ``hold`` with its record and its rollup; the credits charged."""
    row = row_for(account, hold, model=model, usage=usage)
    settled = ledger.settle(hold=hold, cost=cost, record=row, accumulate=UsageRow.of(row))
    return -settled.entry.amount


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def test_settles_add_to_their_bucket_and_rollups_equal_the_generations(
    ledger: Ledger, hold_for: Reserve, make_account: AccountFactory
) -> None:
    # given two accounts, the first with two models
    first, second = make_account(100_000), make_account(100_000, monthly_limit=50_000)
    # when five requests settle
    settle(ledger, first, hold_for(first, 500), 120, usage=Usage(10, 20))
    settle(ledger, first, hold_for(first, 500), 80, usage=Usage(5, 7))
    settle(ledger, first, hold_for(first, 500), 300, model="test/other", usage=Usage(1, 2))
    settle(ledger, second, hold_for(second, 900), 450, usage=Usage(40, 50))
    settle(ledger, second, hold_for(second, 900), 0, usage=Usage(3, 0))
    # then each bucket holds its requests, tokens and credits, one row per bucket
    day = today()
    assert rollups() == {
        (first.user.pk, first.key.pk, "test/echo", day): (2, 15, 27, 200),
        (first.user.pk, first.key.pk, "test/other", day): (1, 1, 2, 300),
        (second.user.pk, second.key.pk, "test/echo", day): (2, 43, 50, 450),
    }
    assert rollups() == generation_sums()


def test_a_release_adds_nothing_and_a_free_request_counts_at_no_cost(
    ledger: Ledger, hold_for: Reserve, make_account: AccountFactory
) -> None:
    account = make_account(10_000)
    failed = hold_for(account, 300)
    ledger.release(hold=failed, record=row_for(account, failed, status="error"))
    assert UsageDaily.objects.count() == 0
    free = hold_for(account, 0)
    assert settle(ledger, account, free, 0, usage=Usage(4, 6)) == 0
    assert rollups() == {(account.user.pk, account.key.pk, "test/echo", today()): (1, 4, 6, 0)}
    assert rollups() == generation_sums()


def test_a_late_or_breaching_settle_adds_what_it_charged(
    ledger: Ledger, hold_for: Reserve, make_account: AccountFactory
) -> None:
    # given a hold the sweeper released and another account's breach
    late = make_account(10_000, monthly_limit=50_000)
    swept = hold_for(late, 2_500)
    ledger.release(hold=swept)
    hold_for(late, 9_000)  # leaves 1,000 available
    breaching = make_account(1_000)
    hold_for(breaching, 600)
    # when the late request settles at 2,000 and the breach at 900 on a hold of 300
    assert settle(ledger, late, swept, 2_000) == 1_000
    assert settle(ledger, breaching, hold_for(breaching, 300), 900) == 400
    # then each rollup holds the credits actually charged
    day = today()
    assert rollups() == {
        (late.user.pk, late.key.pk, "test/echo", day): (1, 0, 0, 1_000),
        (breaching.user.pk, breaching.key.pk, "test/echo", day): (1, 0, 0, 400),
    }
    assert rollups() == generation_sums()


def test_a_request_without_a_key_goes_to_key_zero(
    ledger: Ledger, make_account: AccountFactory
) -> None:
    account = make_account(10_000)
    hold = ledger.reserve(
        account_id=account.user.credit_account.pk,
        api_key_id=None,
        monthly_limit=None,
        amount=200,
        request_id="gen-ledger-nokey",
        ttl_seconds=60,
    )
    row = dataclasses.replace(row_for(account, hold), api_key_id=None)
    ledger.settle(hold=hold, cost=150, record=row, accumulate=UsageRow.of(row))
    assert rollups() == {(account.user.pk, 0, "test/echo", today()): (1, 0, 0, 150)}
    assert rollups() == generation_sums()


def test_the_interrupted_settle_adds_in_the_callers_transaction(
    ledger: Ledger, hold_for: Reserve, make_account: AccountFactory
) -> None:
    account = make_account(1_000)
    hold = hold_for(account, 300, is_streamed=True)
    ledger.checkpoint(hold=hold, credits=70, checkpoint={}, ttl_seconds=60)
    share = UsageRow(account.user.pk, account.key.pk, "test/echo", "chat.completions", 1, 9, 11)
    with transaction.atomic():
        closed = ledger.settle_interrupted(hold_id=hold.id)
        assert closed is not None
        ledger.accumulate_step(accumulate=share, charge=-closed.entry.amount)
    assert rollups() == {(account.user.pk, account.key.pk, "test/echo", today()): (1, 9, 11, 70)}
    assert account_row(account) == (930, 0)


# --- concurrent settles on one bucket (PostgreSQL: SQLite serialises every writer) ----------

SETTLERS = 20


@pytest.mark.postgres
@pytest.mark.timeout(120)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("amount", [0, 1_000], ids=["free", "billed"])
def test_concurrent_settles_on_one_bucket_each_add_once(
    ledger: Ledger, hold_for: Reserve, make_account: AccountFactory, amount: int
) -> None:
    # given 20 holds of one key (free ones: the bucket's row is made by racing inserts)
    account = make_account(1_000_000)
    holds = [hold_for(account, amount) for _ in range(SETTLERS)]
    costs = [(n * 37) % amount if amount else 0 for n in range(SETTLERS)]
    barrier = threading.Barrier(SETTLERS)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            barrier.wait()
            settle(ledger, account, holds[n], costs[n], usage=Usage(n, 2 * n))
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)
        finally:
            connections.close_all()

    # when they all settle at once, each on its own connection
    threads = [threading.Thread(target=run, args=(n,)) for n in range(SETTLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=100)
    # then the one bucket counts each exactly once
    assert errors == []
    tokens = sum(range(SETTLERS))
    assert rollups() == {
        (account.user.pk, account.key.pk, "test/echo", today()): (
            SETTLERS,
            tokens,
            2 * tokens,
            sum(costs),
        )
    }
    assert rollups() == generation_sums()
    assert account_row(account) == (1_000_000 - sum(costs), 0)
