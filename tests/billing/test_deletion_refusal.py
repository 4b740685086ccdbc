"""Why an account may not be deleted yet names the credits and their exact USD: a balance of
a few credits is not "$0.00", 1,234,567 credits are not "$1.23", and one credit is singular."""

from __future__ import annotations

import pytest

from billing.models import CreditAccount
from billing.payment_selectors import account_deletion_refusal
from billing.services import credits_grant, credits_release, credits_reserve
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

SPEND = "Spend it or ask for a refund first: deleting the account would forfeit it."


@pytest.mark.parametrize(
    ("balance", "said"),
    [
        (1, "1 credit ($0.000001)"),
        (5, "5 credits ($0.000005)"),
        (4_999, "4,999 credits ($0.004999)"),
        (1_234_567, "1,234,567 credits ($1.234567)"),
        (2_000_000, "2,000,000 credits ($2.00)"),
        (1_005_000_000, "1,005,000,000 credits ($1,005.00)"),
    ],
)
def test_the_balance_is_named_exactly(
    make_account: AccountFactory, balance: int, said: str
) -> None:
    account = make_account(balance)
    assert account_deletion_refusal(user_id=account.user.pk) == (
        f"The account still has a balance of {said}. {SPEND}"
    )


@pytest.mark.parametrize(
    ("held", "said"),
    [(1, "1 credit ($0.000001) is"), (1_500, "1,500 credits ($0.0015) are")],
)
def test_a_hold_is_named_exactly_and_released_leaves_the_balance(
    make_account: AccountFactory, held: int, said: str
) -> None:
    account = make_account(10_000)
    hold = credits_reserve(
        account_id=account.user.credit_account.pk,
        api_key_id=account.key.pk,
        monthly_limit=None,
        amount=held,
        request_id=f"gen-delete-{held}",
        ttl_seconds=60,
    )
    assert account_deletion_refusal(user_id=account.user.pk) == (
        f"{said} held for requests still running. Wait for them to finish, then try again."
    )
    credits_release(hold=hold)
    assert account_deletion_refusal(user_id=account.user.pk) == (
        f"The account still has a balance of 10,000 credits ($0.01). {SPEND}"
    )


def test_nothing_left_means_no_refusal(make_account: AccountFactory) -> None:
    account = make_account(0)
    assert CreditAccount.objects.get(user=account.user).balance == 0
    assert account_deletion_refusal(user_id=account.user.pk) is None
    credits_grant(user_id=account.user.pk, amount=3, reference="three")
    assert "3 credits ($0.000003)" in (account_deletion_refusal(user_id=account.user.pk) or "")
