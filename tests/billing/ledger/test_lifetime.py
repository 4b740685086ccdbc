"""A hold lives as long as its owner says (``reserve(ttl_seconds=...)``), whatever the
global BILLING_HOLD_TTL_SECONDS: the sweeper takes only holds past their own expiry, so a
long owner (a media task of an hour) is charged in full when it settles 20 minutes in."""

from __future__ import annotations

import datetime as dt

from django.test import override_settings

from billing.ledger import HoldRef, Ledger
from billing.models import Hold
from billing.selectors import ledger_breaches
from gateway.records.sweeper import holds_sweep
from tests.billing.conftest import account_row
from tests.billing.ledger.conftest import Reserve
from tests.factories import AccountFactory


def twenty_minutes_pass(hold: HoldRef) -> None:
    """Move the hold's clock 20 minutes on: its creation and its expiry both 20 min earlier."""
    row = Hold.objects.get(pk=hold.id)
    ago = dt.timedelta(minutes=20)
    Hold.objects.filter(pk=hold.id).update(
        created_at=row.created_at - ago, expires_at=row.expires_at - ago
    )


@override_settings(BILLING_HOLD_TTL_SECONDS=60)
def test_an_hour_long_hold_is_not_swept_at_20_minutes_and_settles_in_full(
    ledger: Ledger, hold_for: Reserve, make_account: AccountFactory
) -> None:
    # given a task's hold of 5,000 for up to an hour, while requests' holds live 60 s more
    account = make_account(10_000)
    task = hold_for(account, 5_000, ttl_seconds=3600)
    # when 20 minutes pass and the sweeper runs
    twenty_minutes_pass(task)
    report = holds_sweep()
    # then the hold is still there, and the task's settle charges its whole cost
    assert report.released == 0 and Hold.objects.filter(pk=task.id).exists()
    assert account_row(account) == (10_000, 5_000)
    settled = ledger.settle(hold=task, cost=4_800)
    assert settled.entry.amount == -4_800
    assert account_row(account) == (5_200, 0) and ledger_breaches() == []


def test_a_hold_past_its_own_expiry_is_swept_and_its_late_settle_takes_what_is_left(
    ledger: Ledger, hold_for: Reserve, make_account: AccountFactory
) -> None:
    # given a hold of 5,000 for 15 minutes, and another owner's hold of 4,000 beside it
    account = make_account(10_000)
    short = hold_for(account, 5_000, ttl_seconds=900)
    other = hold_for(account, 4_000, ttl_seconds=3600)
    # when 20 minutes pass: the short one is past its expiry, the other is not
    twenty_minutes_pass(short)
    twenty_minutes_pass(other)
    assert holds_sweep().released == 1
    assert not Hold.objects.filter(pk=short.id).exists()
    assert Hold.objects.filter(pk=other.id).exists()
    # then the short one's late settle is charged only what is still available (6,000)
    assert ledger.settle(hold=short, cost=4_800).entry.amount == -4_800
    assert account_row(account) == (5_200, 4_000)
    assert ledger.settle(hold=other, cost=4_000).entry.amount == -4_000
    assert account_row(account) == (1_200, 0) and ledger_breaches() == []
