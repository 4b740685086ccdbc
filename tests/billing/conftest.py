"""Helpers for the billing tests: reserving holds directly through the services."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from billing.models import CreditAccount, KeySpend
from billing.services import HoldRef, credits_reserve, month_start
from tests.factories import Account

Reserve = Callable[..., HoldRef]

_request_ids = itertools.count(1)


def request_id_new() -> str:
    return f"req-test-{next(_request_ids)}"


@pytest.fixture
def reserve() -> Reserve:
    """Hold ``amount`` credits for a new request of ``account`` (through its key)."""

    def make(account: Account, amount: int, *, ttl_seconds: int = 900) -> HoldRef:
        return credits_reserve(
            account_id=account.user.credit_account.pk,
            api_key_id=account.key.pk,
            monthly_limit=account.key.monthly_limit,
            amount=amount,
            request_id=request_id_new(),
            ttl_seconds=ttl_seconds,
        )

    return make


def account_row(account: Account) -> tuple[int, int]:
    """(balance, held) of the account, read fresh."""
    return CreditAccount.objects.values_list("balance", "held").get(
        pk=account.user.credit_account.pk
    )


def key_spend_row(account: Account) -> tuple[int, int]:
    """(spent, held) of the account's key this month, read fresh; (0, 0) without a row."""
    row = (
        KeySpend.objects.filter(api_key_id=account.key.pk, month=month_start())
        .values_list("spent", "held")
        .first()
    )
    return row or (0, 0)
