"""billing.services: reserve, settle, release and grant, down to the credit."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from prometheus_client import REGISTRY

from billing.models import Hold, KeySpend, LedgerEntry
from billing.selectors import ledger_breaches
from billing.services import (
    InsufficientCredits,
    KeyLimitExceeded,
    credits_grant,
    credits_release,
    credits_settle,
)
from gateway.api.errors import api_error_of
from tests.billing.conftest import account_row, key_spend_row


def test_reserve_holds_without_touching_the_balance(make_account, reserve):
    # given an account of 1,000 credits
    account = make_account(1_000)
    # when a request reserves 300
    hold = reserve(account, 300)
    # then 300 are held, the balance is unchanged and one Hold row records it
    assert account_row(account) == (1_000, 300)
    row = Hold.objects.get(pk=hold.id)
    assert (row.amount, row.request_id, row.account_id) == (300, hold.request_id, hold.account_id)
    assert hold.month is None  # no monthly limit: no KeySpend bookkeeping
    assert not KeySpend.objects.exists()


def test_reserve_refuses_more_than_available(make_account, reserve):
    # given 1,000 credits of which 700 are already held
    account = make_account(1_000)
    reserve(account, 700)
    # when a second request needs 301
    with pytest.raises(InsufficientCredits) as exc:
        reserve(account, 301)
    # then it is refused with 402 and nothing more is held
    assert (api_error_of(exc.value).status, exc.value.code) == (402, "insufficient_credits")
    assert account_row(account) == (1_000, 700)
    assert Hold.objects.count() == 1
    # and exactly what is left can still be held
    reserve(account, 300)
    assert account_row(account) == (1_000, 1_000)


def test_reserve_rejects_a_negative_amount(make_account, reserve):
    account = make_account(1_000)
    with pytest.raises(ValueError, match="negative"):
        reserve(account, -1)
    assert account_row(account) == (1_000, 0)


def test_zero_hold_touches_nothing_and_settles_to_a_zero_entry(make_account, reserve):
    # given an account with nothing, and a free request's zero upper bound
    account = make_account(0)
    hold = reserve(account, 0)
    # then no hold row exists and nothing is held
    assert hold.id == 0 and Hold.objects.count() == 0
    assert account_row(account) == (0, 0)
    # when it settles, one zero ledger entry records it
    entry = credits_settle(hold=hold, cost=0)
    assert entry.amount == 0 and entry.balance_after == 0
    assert credits_release(hold=hold) is False
    assert ledger_breaches() == []


def test_reserve_counts_against_the_key_monthly_limit(make_account, reserve):
    # given a rich account whose key may spend 500 credits a month
    account = make_account(1_000_000, monthly_limit=500)
    # when two requests hold 200 each
    first = reserve(account, 200)
    reserve(account, 200)
    # then the key's month holds 400 and the account holds 400
    assert first.month is not None
    assert key_spend_row(account) == (0, 400)
    assert account_row(account) == (1_000_000, 400)
    # and a third of 101 breaks the limit: refused, and the account hold is rolled back too
    with pytest.raises(KeyLimitExceeded) as exc:
        reserve(account, 101)
    assert (api_error_of(exc.value).status, exc.value.code) == (402, "key_limit_exceeded")
    assert key_spend_row(account) == (0, 400)
    assert account_row(account) == (1_000_000, 400)
    assert Hold.objects.count() == 2


def test_settle_charges_the_cost_and_releases_the_hold(make_account, reserve):
    # given 1,000 credits, a key limit, and a hold of 300
    account = make_account(1_000, monthly_limit=10_000)
    hold = reserve(account, 300)
    # when the request settles at 120 credits
    entry = credits_settle(hold=hold, cost=120, memo="test/echo")
    # then 120 leave the balance, nothing stays held, and the ledger says so
    assert account_row(account) == (880, 0)
    assert key_spend_row(account) == (120, 0)
    assert not Hold.objects.filter(pk=hold.id).exists()
    assert (entry.kind, entry.amount, entry.reference) == ("usage", -120, hold.request_id)
    assert entry.balance_after == 880
    assert entry.api_key_id == account.key.pk
    assert ledger_breaches() == []


def breaches() -> float:
    return REGISTRY.get_sample_value("gateway_hold_breaches_total") or 0.0


def test_a_cost_above_the_hold_is_a_breach_charged_in_full(make_account, reserve, caplog):
    # given a hold of 300 (the bound the request was admitted with)
    account = make_account(1_000, monthly_limit=10_000)
    hold = reserve(account, 300)
    before = breaches()
    # when the upstream reports a cost above it
    entry = credits_settle(hold=hold, cost=450)
    # then the real cost is charged (the account can pay it), the breach is counted and
    # logged at ERROR with the request id, and the books still balance
    assert entry.amount == -450
    assert account_row(account) == (550, 0)
    assert key_spend_row(account) == (450, 0)
    assert breaches() == before + 1
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and hold.request_id in errors[0].getMessage()
    assert ledger_breaches() == []


def test_a_breach_never_charges_more_than_the_account_can_pay(make_account, reserve):
    # given 1,000 credits of which another request holds 600, and a hold of 300
    account = make_account(1_000)
    other = reserve(account, 600)
    hold = reserve(account, 300)
    # when the cost comes back at 900: the available 100 plus the 300 held can pay 400
    entry = credits_settle(hold=hold, cost=900)
    # then 400 are charged, the other hold stays whole and the balance is never negative
    assert entry.amount == -400
    assert account_row(account) == (600, 600)
    credits_release(hold=other)
    assert account_row(account) == (600, 0)
    assert ledger_breaches() == []


def test_settle_of_zero_cost_still_writes_one_entry(make_account, reserve):
    account = make_account(1_000)
    hold = reserve(account, 300)
    entry = credits_settle(hold=hold, cost=0)
    assert (entry.amount, entry.balance_after) == (0, 1_000)
    assert account_row(account) == (1_000, 0)


def test_settling_twice_never_charges_twice(make_account, reserve):
    # given a settled request
    account = make_account(1_000)
    hold = reserve(account, 300)
    credits_settle(hold=hold, cost=120)
    # when the same hold is settled again (credits_settle joins its caller's transaction,
    # so a caller that carries on after the error needs its own atomic block)
    with pytest.raises(IntegrityError), transaction.atomic():
        credits_settle(hold=hold, cost=120)
    # then the second charge is rolled back: one entry, one charge
    assert account_row(account) == (880, 0)
    assert LedgerEntry.objects.filter(kind="usage", reference=hold.request_id).count() == 1
    assert ledger_breaches() == []


def test_release_gives_the_hold_back_once(make_account, reserve):
    # given a hold of 300 against the key's limit
    account = make_account(1_000, monthly_limit=10_000)
    hold = reserve(account, 300)
    # when it is released twice
    first = credits_release(hold=hold)
    second = credits_release(hold=hold)
    # then only the first release counts; nothing is charged and no entry is written
    assert (first, second) == (True, False)
    assert account_row(account) == (1_000, 0)
    assert key_spend_row(account) == (0, 0)
    assert LedgerEntry.objects.filter(kind="usage").count() == 0


def test_grant_appends_entries_with_running_balance(make_account):
    # given a user without credits
    account = make_account(0)
    user_id = account.user.pk
    # when credits are granted, bought and taken back
    first = credits_grant(user_id=user_id, amount=5_000, memo="welcome")
    second = credits_grant(user_id=user_id, amount=2_500, kind="purchase", reference="pay_1")
    third = credits_grant(user_id=user_id, amount=-1_000, kind="adjustment", memo="goodwill")
    # then each entry records the balance after it
    assert [e.balance_after for e in (first, second, third)] == [5_000, 7_500, 6_500]
    assert [e.amount for e in (first, second, third)] == [5_000, 2_500, -1_000]
    assert account_row(account) == (6_500, 0)
    assert ledger_breaches() == []


def test_grant_with_a_used_reference_is_idempotent(make_account):
    # given a purchase recorded under reference pay_1
    account = make_account(0)
    first = credits_grant(user_id=account.user.pk, amount=2_500, kind="purchase", reference="pay_1")
    # when the same purchase is granted again
    again = credits_grant(user_id=account.user.pk, amount=2_500, kind="purchase", reference="pay_1")
    # then it is not credited twice and the first entry comes back
    assert again.pk == first.pk
    assert account_row(account) == (2_500, 0)
    assert LedgerEntry.objects.filter(reference="pay_1").count() == 1


def test_negative_grant_cannot_overdraw(make_account, reserve):
    # given 1,000 credits of which 300 are held
    account = make_account(1_000)
    reserve(account, 300)
    # when more than the available 700 is taken away
    with pytest.raises(InsufficientCredits):
        credits_grant(user_id=account.user.pk, amount=-701, kind="adjustment")
    # then nothing changes; exactly the available 700 may go
    assert account_row(account) == (1_000, 300)
    entry = credits_grant(user_id=account.user.pk, amount=-700, kind="adjustment")
    assert entry.balance_after == 300
    assert account_row(account) == (300, 300)


def test_ledger_entries_are_append_only(make_account):
    # given an entry in the ledger
    account = make_account(1_000)
    entry = LedgerEntry.objects.get(account__user=account.user)
    # when it is changed or deleted, one row or in bulk, it refuses
    entry.amount = 1_000_000
    with pytest.raises(ValueError, match="append-only"):
        entry.save()
    with pytest.raises(ValueError, match="append-only"):
        entry.delete()
    with pytest.raises(ValueError, match="append-only"):
        LedgerEntry.objects.filter(pk=entry.pk).update(amount=1_000_000)
    with pytest.raises(ValueError, match="append-only"):
        LedgerEntry.objects.filter(pk=entry.pk).delete()
    # then the stored row is untouched
    assert LedgerEntry.objects.values_list("amount", flat=True).get(pk=entry.pk) == 1_000
    assert account_row(account) == (1_000, 0)
