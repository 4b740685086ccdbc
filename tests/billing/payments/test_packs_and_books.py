"""Packs as JSON (import idempotent on slug, export the same shape, the first run's demo
packs), the audited manual adjustment, and verify_ledger's payment checks."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.services import user_create
from billing.models import CreditAccount, LedgerEntry
from billing.models_payments import CreditAdjustment, Payment, TopUpPack
from billing.services.payments import credits_adjust
from config.errors import DomainError
from tests.billing.payments.conftest import Buyer, Webhook, completed
from tests.fakes.stripe_server import FakeStripe

PACKS = {
    "packs": [
        {"slug": "ten", "name": "Ten", "price_usd": "10.00", "credits": 10_000_000},
        {
            "slug": "big",
            "name": "Big",
            "price_usd": "100.00",
            "credits": 105_000_000,
            "description": "5% bonus",
            "active": False,
        },
    ]
}


def test_import_is_idempotent_on_slug_and_export_round_trips(db: None, tmp_path: Path) -> None:
    path = tmp_path / "packs.json"
    path.write_text(json.dumps(PACKS))
    call_command("packs_import", str(path), stdout=io.StringIO())
    changed = {"packs": [{**PACKS["packs"][0], "credits": 11_000_000}]}
    path.write_text(json.dumps(changed))
    call_command("packs_import", str(path), stdout=io.StringIO())
    assert TopUpPack.objects.count() == 2
    assert TopUpPack.objects.get(slug="ten").credits == 11_000_000
    out = io.StringIO()
    call_command("packs_export", stdout=out)
    exported = json.loads(out.getvalue())["packs"]
    assert [(p["slug"], p["price_usd"], p["credits"], p["active"]) for p in exported] == [
        ("ten", "10.00", 11_000_000, True),
        ("big", "100.00", 105_000_000, False),
    ]


@pytest.mark.parametrize(
    "entry",
    [
        {"slug": "cheap", "price_usd": "10.00", "credits": 9_999_999},  # below the base rate
        {"slug": "cents", "price_usd": "10.001", "credits": 10_001_000},
        {"slug": "free", "price_usd": "0", "credits": 1},
        {"price_usd": "1.00", "credits": 1_000_000},
    ],
)
def test_bad_packs_are_refused_and_nothing_is_imported(
    db: None, tmp_path: Path, entry: dict[str, Any]
) -> None:
    path = tmp_path / "packs.json"
    path.write_text(json.dumps({"packs": [PACKS["packs"][0], entry]}))
    with pytest.raises(CommandError):
        call_command("packs_import", str(path), stdout=io.StringIO())
    assert TopUpPack.objects.count() == 0


def test_the_first_run_imports_three_demo_packs(db: None, settings: Any, tmp_path: Path) -> None:
    settings.VAR_DIR = tmp_path
    call_command("bootstrap", "--port", "8123", stdout=io.StringIO())
    call_command("bootstrap", "--port", "8123", stdout=io.StringIO())
    packs = list(TopUpPack.objects.values_list("price_usd", "credits"))
    assert [(str(p), c) for p, c in packs] == [
        ("10.00", 10_000_000),
        ("100.00", 105_000_000),
        ("1000.00", 1_120_000_000),
    ]


def test_a_manual_adjustment_writes_its_entry_and_an_audit_row(db: None) -> None:
    staff = user_create(email="staff@example.com", is_staff=True)
    user = user_create(email="someone@example.com")
    account = CreditAccount.objects.get(user=user)
    entry = credits_adjust(
        account_id=account.pk, staff_user=staff, amount=2_000_000, reason="goodwill"
    )
    assert (entry.kind, entry.amount, entry.balance_after) == ("adjustment", 2_000_000, 2_000_000)
    audit = CreditAdjustment.objects.get()
    assert (audit.staff_user, audit.amount, audit.reason, audit.ledger_entry) == (
        staff,
        2_000_000,
        "goodwill",
        entry,
    )
    with pytest.raises(DomainError):
        credits_adjust(
            account_id=account.pk, staff_user=staff, amount=-3_000_000, reason="too much"
        )
    with pytest.raises(DomainError):
        credits_adjust(account_id=account.pk, staff_user=staff, amount=1, reason=" ")
    assert CreditAdjustment.objects.count() == 1


def _verify() -> tuple[bool, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_ledger", stdout=out, stderr=err)
    except CommandError:
        return False, err.getvalue()
    return True, out.getvalue()


def test_verify_ledger_passes_after_purchases_and_refunds_and_catches_breaches(
    make_buyer: Any, fake_stripe: FakeStripe, webhook: Webhook, packs: Any
) -> None:
    buyer: Buyer = make_buyer()
    payment, session = buyer.checkout(pack="hundred")
    webhook.deliver(completed(fake_stripe, session))
    payment.refresh_from_db()
    charge = fake_stripe.charge_object(payment.stripe_payment_intent_id, amount_refunded=4_000)
    webhook.deliver(fake_stripe.event("charge.refunded", charge))
    other, _ = buyer.checkout(pack="ten")  # pending: no purchase entry
    ok, text = _verify()
    assert ok, text
    # a second purchase entry for the paid payment, and one for the pending payment
    account_id = buyer.account.pk
    for ref in (payment.reference, other.reference):
        LedgerEntry.objects.create(
            account_id=account_id, amount=1, kind="grant", reference="x" + ref, balance_after=0
        )
    LedgerEntry.objects.create(
        account_id=account_id, amount=5, kind="purchase", reference=other.reference, balance_after=0
    )
    LedgerEntry.objects.create(
        account_id=account_id,
        amount=-70_000_000,
        kind="refund",
        reference=f"refund-{payment.pk}-9999",
        balance_after=0,
    )
    ok, text = _verify()
    assert not ok
    assert f"payment {other.pk}: pending but has 1 purchase entries" in text
    assert f"payment {payment.pk}: refunds took 112000000 credits back" in text
    assert Payment.objects.count() == 2
