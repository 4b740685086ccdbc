"""The holds sweeper (gateway.tasks.holds_sweep): a hold whose request died is released
exactly once, however often the sweeper runs and however it races a late settle."""

from __future__ import annotations

import datetime as dt
import logging
import threading

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from billing.models import Hold, LedgerEntry
from billing.selectors import ledger_breaches
from billing.services import HoldRef, credits_settle
from config.celery import app as celery_app
from gateway import tasks
from gateway.records.sweeper import holds_sweep
from tests.billing.conftest import account_row, key_spend_row

LATE = "after its hold was released"


def expire(*holds: HoldRef) -> None:
    """The requests behind these holds died: their TTL ran out a minute ago."""
    past = timezone.now() - dt.timedelta(minutes=1)
    Hold.objects.filter(pk__in=[h.id for h in holds]).update(expires_at=past)


def test_the_task_is_registered_and_scheduled():
    assert "gateway.tasks.holds_sweep" in celery_app.tasks
    schedule = {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "gateway.tasks.holds_sweep" in schedule


def test_task_releases_an_expired_hold_exactly_once(make_account, reserve, caplog):
    # given a key-limited account with one live hold and one whose request died
    account = make_account(10_000, monthly_limit=50_000)
    live = reserve(account, 1_000)
    dead = reserve(account, 2_500)
    expire(dead)
    assert account_row(account) == (10_000, 3_500)
    # when the scheduled task runs
    with caplog.at_level(logging.WARNING, logger="gateway.records.sweeper"):
        released = tasks.holds_sweep.delay().get()["released"]
    # then only the dead hold is released: balance unchanged, held and KeySpend back
    assert released == 1
    assert account_row(account) == (10_000, 1_000)
    assert key_spend_row(account) == (0, 1_000)
    assert list(Hold.objects.values_list("pk", flat=True)) == [live.id]
    assert not LedgerEntry.objects.filter(kind="usage").exists()
    assert any(dead.request_id in r.getMessage() for r in caplog.records)
    # and a second run finds nothing more to release
    assert tasks.holds_sweep.delay().get()["released"] == 0
    assert account_row(account) == (10_000, 1_000)
    assert key_spend_row(account) == (0, 1_000)
    assert ledger_breaches() == []


def test_sweep_leaves_unexpired_holds(make_account, reserve):
    account = make_account(10_000)
    reserve(account, 1_000, ttl_seconds=60)
    assert holds_sweep().released == 0
    assert holds_sweep(now=timezone.now() + dt.timedelta(seconds=61)).released == 1
    assert account_row(account) == (10_000, 0)


def test_late_settle_after_the_sweep_charges_once(make_account, reserve, caplog):
    # given a request whose hold of 2,500 was swept while it was still running
    account = make_account(10_000, monthly_limit=50_000)
    hold = reserve(account, 2_500)
    expire(hold)
    assert holds_sweep().released == 1
    # when the request finally settles at 700 credits
    with caplog.at_level(logging.WARNING, logger="billing.services"):
        entry = credits_settle(hold=hold, cost=700)
    # then it is charged once from the available balance, and the hold is not released again
    assert entry.amount == -700
    assert account_row(account) == (9_300, 0)
    assert key_spend_row(account) == (700, 0)
    assert any(LATE in r.getMessage() for r in caplog.records)
    assert holds_sweep().released == 0
    assert ledger_breaches() == []


def test_late_settle_charges_only_what_is_available(make_account, reserve):
    # given 10,000 credits; a swept hold of 2,500, then a new request holding 9,000
    account = make_account(10_000, monthly_limit=50_000)
    swept = reserve(account, 2_500)
    expire(swept)
    holds_sweep()
    reserve(account, 9_000)
    # when the swept request settles at 2,000 with only 1,000 available
    entry = credits_settle(hold=swept, cost=2_000)
    # then it is charged the 1,000 available, and the balance still covers the live hold
    assert entry.amount == -1_000
    assert entry.balance_after == 9_000
    assert account_row(account) == (9_000, 9_000)
    assert key_spend_row(account) == (1_000, 9_000)
    assert ledger_breaches() == []


def test_settle_before_the_sweep_leaves_nothing_to_sweep(make_account, reserve):
    account = make_account(10_000, monthly_limit=50_000)
    hold = reserve(account, 2_500)
    expire(hold)
    credits_settle(hold=hold, cost=700)
    assert holds_sweep().released == 0
    assert account_row(account) == (9_300, 0)
    assert key_spend_row(account) == (700, 0)


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locking")
def test_sweeper_racing_late_settles_never_double_releases(
    transactional_db, make_account, reserve, caplog
):
    # given 30 requests whose holds of 1,000 expired while they were still running
    account = make_account(1_000_000, monthly_limit=5_000_000)
    holds = [reserve(account, 1_000) for _ in range(30)]
    expire(*holds)
    barrier = threading.Barrier(len(holds) + 2)
    swept: list[int] = []
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            barrier.wait()
            swept.append(holds_sweep().released)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def settle(hold: HoldRef) -> None:
        try:
            barrier.wait()
            credits_settle(hold=hold, cost=400)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    # when two sweepers and the 30 late settles all run at once
    threads = [threading.Thread(target=sweep) for _ in range(2)]
    threads += [threading.Thread(target=settle, args=(h,)) for h in holds]
    with caplog.at_level(logging.WARNING, logger="billing.services"):
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    # then every hold was closed exactly once: by its settle or by one sweeper
    assert errors == []
    late = sum(LATE in r.getMessage() for r in caplog.records)
    assert sum(swept) == late
    assert account_row(account) == (1_000_000 - 30 * 400, 0)
    assert key_spend_row(account) == (30 * 400, 0)
    assert Hold.objects.count() == 0
    assert LedgerEntry.objects.filter(kind="usage").count() == 30
    assert ledger_breaches() == []
