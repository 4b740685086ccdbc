"""Payments in Django admin: the audited adjustment (once per opened form) and clearing a
suspension, through the admin's own pages."""

from __future__ import annotations

import re

from django.test import Client
from django.urls import reverse

from billing.models import CreditAccount, LedgerEntry
from billing.models_payments import CreditAdjustment
from tests.admin.rows import Customer


def run_action(client: Client, action: str, pks: list[int], **extra: str):  # type: ignore[no-untyped-def]
    return client.post(
        reverse("admin:billing_creditaccount_changelist"),
        {"action": action, "_selected_action": [str(pk) for pk in pks], **extra},
    )


def test_an_adjustment_is_audited_and_applied_once(
    staff_client: Client, customer: Customer
) -> None:
    account = CreditAccount.objects.get(user=customer.user)
    before = account.balance
    form = run_action(staff_client, "adjust_credits", [account.pk])
    assert form.status_code == 200
    token = re.search(r'name="token" value="([0-9a-f]+)"', form.content.decode()).group(1)  # type: ignore[union-attr]
    data = {"apply": "1", "credits": "-1000000", "reason": "chargeback fee", "token": token}
    for _ in range(2):  # a double click
        assert run_action(staff_client, "adjust_credits", [account.pk], **data).status_code == 302
    account.refresh_from_db()
    assert account.balance == before - 1_000_000
    entry = LedgerEntry.objects.get(account=account, kind="adjustment", memo="chargeback fee")
    audit = CreditAdjustment.objects.get(ledger_entry=entry)
    assert (audit.amount, audit.staff_user.email, audit.reason) == (
        -1_000_000,
        "root@example.com",
        "chargeback fee",
    )


def test_clearing_a_suspension(staff_client: Client, customer: Customer) -> None:
    account = CreditAccount.objects.get(user=customer.user)
    CreditAccount.objects.filter(pk=account.pk).update(is_suspended=True)
    assert run_action(staff_client, "clear_suspension", [account.pk]).status_code == 302
    account.refresh_from_db()
    assert account.is_suspended is False
