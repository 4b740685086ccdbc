"""The ledger's contract, the same for both backends (``conftest.BACKENDS``): what each
write does to the balance, the holds, the key's month and the ledger, down to the credit."""

from __future__ import annotations

import logging

import pytest

from accounts.keycheck import KeyCheck
from accounts.models import ApiKey
from billing.ledger import InsufficientCredits, KeyLimitExceeded, Ledger
from billing.models import Hold, LedgerEntry
from billing.selectors import ledger_breaches
from gateway.models import Generation
from tests.billing.conftest import account_row, key_spend_row
from tests.billing.ledger.conftest import Reserve, row_for
from tests.factories import AccountFactory


def test_reserve_holds_and_refuses_beyond_what_is_available(
    ledger: Ledger, hold_for: Reserve, make_account: AccountFactory
) -> None:
    account = make_account(1_000)
    hold = hold_for(account, 700)
    assert hold.id > 0 and account_row(account) == (1_000, 700)
    with pytest.raises(InsufficientCredits) as exc:
        hold_for(account, 301)
    assert exc.value.code == "insufficient_credits"
    assert account_row(account) == (1_000, 700) and Hold.objects.count() == 1
    hold_for(account, 300)
    assert account_row(account) == (1_000, 1_000)


def test_reserve_respects_the_key_month_and_rolls_back_the_account(
    ledger: Ledger, hold_for: Reserve, make_account: AccountFactory
) -> None:
    account = make_account(1_000_000, monthly_limit=500)
    first = hold_for(account, 400)
    assert first.month is not None and key_spend_row(account) == (0, 400)
    with pytest.raises(KeyLimitExceeded):
        hold_for(account, 101)
    assert account_row(account) == (1_000_000, 400) and key_spend_row(account) == (0, 400)
    assert Hold.objects.count() == 1


def test_a_hold_lives_as_long_as_its_owner_says(
    ledger: Ledger, hold_for: Reserve, make_account: AccountFactory
) -> None:
    account = make_account(10_000)
    hold = hold_for(account, 100, ttl_seconds=3600, is_streamed=True)
    row = Hold.objects.get(pk=hold.id)
    lifetime = (row.expires_at - row.created_at).total_seconds()
    assert 3599 <= lifetime <= 3601 and row.is_streamed


def test_a_failing_key_check_holds_nothing_and_a_passing_one_holds(
    ledger: Ledger, hold_for: Reserve, make_account: AccountFactory
) -> None:
    account = make_account(10_000)
    key = ApiKey.objects.get(pk=account.key.pk)
    with pytest.raises(InsufficientCredits):  # an old revision: the key changed since
        hold_for(account, 100, key_check=KeyCheck(api_key_id=key.pk, revision=key.revision + 1))
    assert account_row(account) == (10_000, 0) and Hold.objects.count() == 0
    hold_for(account, 100, key_check=KeyCheck(api_key_id=key.pk, revision=key.revision))
    assert account_row(account) == (10_000, 100)
    ApiKey.objects.filter(pk=key.pk).update(is_disabled=True)
    revision = ApiKey.objects.values_list("revision", flat=True).get(pk=key.pk)
    with pytest.raises(InsufficientCredits):  # revoked
        hold_for(account, 100, key_check=KeyCheck(api_key_id=key.pk, revision=revision))
    assert account_row(account) == (10_000, 100)


def test_settle_charges_releases_and_writes_the_record_with_its_entry(
    ledger: Ledger, hold_for: Reserve, make_account: AccountFactory
) -> None:
    account = make_account(1_000, monthly_limit=10_000)
    hold = hold_for(account, 300)
    settled = ledger.settle(hold=hold, cost=120, memo="test/echo", record=row_for(account, hold))
    assert account_row(account) == (880, 0) and key_spend_row(account) == (120, 0)
    assert (settled.entry.amount, settled.entry.balance_after) == (-120, 880)
    assert (settled.entry.kind, settled.entry.reference) == ("usage", hold.request_id)
    generation = Generation.objects.get(pk=settled.record_id)
    assert generation.ledger_entry_id == settled.entry.pk and generation.cost == 120
    assert (generation.status, generation.http_status) == ("success", 200)
    assert generation.prices == {"prompt": "1", "completion": "2"}
    assert generation.attempts == [{"status": 200}] and generation.created_at is not None
    assert LedgerEntry.objects.get(pk=settled.entry.pk).amount == -120
    assert ledger_breaches() == []


def test_settle_without_a_record_writes_only_the_entry(
    ledger: Ledger, hold_for: Reserve, make_account: AccountFactory
) -> None:
    account = make_account(1_000)
    settled = ledger.settle(hold=hold_for(account, 300), cost=0)
    assert settled.record_id is None and (settled.entry.amount, settled.entry.balance_after) == (
        0,
        1_000,
    )
    assert account_row(account) == (1_000, 0) and Generation.objects.count() == 0


def test_a_free_request_settles_to_a_zero_entry_with_its_record(
    ledger: Ledger, hold_for: Reserve, make_account: AccountFactory
) -> None:
    account = make_account(500)
    hold = hold_for(account, 0)
    assert hold.id == 0 and Hold.objects.count() == 0
    settled = ledger.settle(hold=hold, cost=0, record=row_for(account, hold))
    assert (settled.entry.amount, settled.entry.balance_after) == (0, 500)
    assert Generation.objects.get(pk=settled.record_id).ledger_entry_id == settled.entry.pk
    assert ledger.release(hold=hold).released is False
    assert account_row(account) == (500, 0) and ledger_breaches() == []


def test_a_breach_is_charged_as_far_as_the_account_can_pay(
    ledger: Ledger, hold_for: Reserve, make_account: AccountFactory
) -> None:
    account = make_account(1_000)
    other = hold_for(account, 600)
    hold = hold_for(account, 300)
    settled = ledger.settle(hold=hold, cost=900)
    assert settled.entry.amount == -400 and account_row(account) == (600, 600)
    ledger.release(hold=other)
    assert account_row(account) == (600, 0) and ledger_breaches() == []


def test_a_late_settle_charges_once_from_what_is_available(
    ledger: Ledger,
    hold_for: Reserve,
    make_account: AccountFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given a hold of 2,500 released (as the sweeper would) and a new one of 9,000
    account = make_account(10_000, monthly_limit=50_000)
    swept = hold_for(account, 2_500)
    assert ledger.release(hold=swept).released is True
    hold_for(account, 9_000)
    # when the swept request settles at 2,000 with only 1,000 available
    with caplog.at_level(logging.WARNING):
        settled = ledger.settle(hold=swept, cost=2_000, record=row_for(account, swept))
    # then it is charged the 1,000 available, once, and its record says so
    assert settled.entry.amount == -1_000 and settled.entry.balance_after == 9_000
    assert account_row(account) == (9_000, 9_000) and key_spend_row(account) == (1_000, 9_000)
    assert Generation.objects.get(pk=settled.record_id).cost == 1_000
    assert any("after its hold was released" in r.getMessage() for r in caplog.records)
    assert ledger_breaches() == []


def test_release_gives_the_hold_back_once_and_records_the_failure(
    ledger: Ledger, hold_for: Reserve, make_account: AccountFactory
) -> None:
    account = make_account(1_000, monthly_limit=10_000)
    hold = hold_for(account, 300)
    first = ledger.release(hold=hold, record=row_for(account, hold, status="error"))
    second = ledger.release(hold=hold)
    assert (first.released, second.released) == (True, False)
    assert second.record_id is None
    assert account_row(account) == (1_000, 0) and key_spend_row(account) == (0, 0)
    failed = Generation.objects.get(pk=first.record_id)
    assert (failed.status, failed.http_status, failed.cost, failed.ledger_entry_id) == (
        "error",
        502,
        0,
        None,
    )
    assert LedgerEntry.objects.filter(kind="usage").count() == 0


def test_checkpoint_renews_the_hold_until_it_is_closed(
    ledger: Ledger, hold_for: Reserve, make_account: AccountFactory
) -> None:
    account = make_account(1_000)
    hold = hold_for(account, 300, ttl_seconds=5, is_streamed=True)
    assert ledger.checkpoint(hold=hold, credits=40, checkpoint={"n": 1}, ttl_seconds=600)
    row = Hold.objects.get(pk=hold.id)
    assert (row.checkpoint_credits, row.checkpoint) == (40, {"n": 1})
    assert 590 <= (row.expires_at - row.checkpoint_at).total_seconds() <= 601
    ledger.settle(hold=hold, cost=50)
    assert ledger.checkpoint(hold=hold, credits=50, checkpoint={}, ttl_seconds=600) is False


def test_settle_interrupted_charges_the_last_checkpoint_once(
    ledger: Ledger, hold_for: Reserve, make_account: AccountFactory
) -> None:
    account = make_account(1_000)
    hold = hold_for(account, 300, is_streamed=True)
    ledger.checkpoint(hold=hold, credits=70, checkpoint={"model": "m"}, ttl_seconds=60)
    closed = ledger.settle_interrupted(hold_id=hold.id, memo="interrupted")
    assert closed is not None and closed.entry.amount == -70 and closed.checkpoint == {"model": "m"}
    assert ledger.settle_interrupted(hold_id=hold.id) is None
    assert account_row(account) == (930, 0) and ledger_breaches() == []


def test_grant_is_idempotent_and_never_takes_away_more_than_is_available(
    ledger: Ledger, hold_for: Reserve, make_account: AccountFactory
) -> None:
    account = make_account(0)
    user_id = account.user.pk
    first = ledger.grant(user_id=user_id, amount=2_500, kind="purchase", reference="pay_1")
    again = ledger.grant(user_id=user_id, amount=2_500, kind="purchase", reference="pay_1")
    assert again.pk == first.pk and account_row(account) == (2_500, 0)
    hold_for(account, 500)
    with pytest.raises(InsufficientCredits):
        ledger.grant(user_id=user_id, amount=-2_001, kind="adjustment")
    taken = ledger.grant(user_id=user_id, amount=-2_000, kind="adjustment")
    assert (taken.amount, taken.balance_after) == (-2_000, 500)
    assert account_row(account) == (500, 500) and ledger_breaches() == []


def test_refund_takes_back_what_is_available_once(
    ledger: Ledger, hold_for: Reserve, make_account: AccountFactory
) -> None:
    account = make_account(1_000)
    account_id = account.user.credit_account.pk
    hold_for(account, 400)
    entry = ledger.refund(account_id=account_id, amount=900, reference="refund-1")
    assert entry is not None and (entry.amount, entry.kind, entry.balance_after) == (
        -600,
        "refund",
        400,
    )
    # when the same refund comes again, with credits available once more
    ledger.grant(user_id=account.user.pk, amount=1_000, kind="grant")
    again = ledger.refund(account_id=account_id, amount=900, reference="refund-1")
    # then nothing is taken twice: the first entry comes back
    assert again is not None and again.pk == entry.pk
    assert account_row(account) == (1_400, 400)
    assert LedgerEntry.objects.filter(kind="refund").count() == 1 and ledger_breaches() == []
    assert ledger.refund(account_id=account_id, amount=5, reference="refund-2") is not None
    assert ledger.refund(account_id=account_id, amount=5_000, reference="refund-3").amount == -995
    assert ledger.refund(account_id=account_id, amount=1, reference="refund-4") is None
