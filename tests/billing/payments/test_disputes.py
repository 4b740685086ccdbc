"""Disputes through the real webhook view: a won dispute lifts the suspension when
nothing else justifies it (an uncleared shortfall, another open or lost dispute), an
admin's clearing is recorded and counts, and after a won dispute a payment's status shows
the refunds that landed meanwhile. Events are redelivered and reordered as Stripe may."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from billing.models import LedgerEntry
from billing.models_payments import Payment, PaymentDispute, SuspensionClearance
from billing.services import credits_grant
from tests.billing.payments.conftest import (
    Buyer,
    Webhook,
    admin_clear_suspension,
    dispute_object,
    paid,
)
from tests.fakes.stripe_server import FakeStripe

pytestmark = pytest.mark.usefixtures("packs")


@pytest.fixture
def buyer(make_buyer: Any, fake_stripe: FakeStripe) -> Buyer:
    return make_buyer()


def _deliver(webhook: Webhook, fake: FakeStripe, event_type: str, obj: dict[str, Any]) -> None:
    assert webhook.deliver(fake.event(event_type, obj)).status_code == 200


def _dispute(fake: FakeStripe, webhook: Webhook, payment: Payment, dispute_id: str) -> dict:
    dispute = dispute_object(dispute_id, payment_intent=payment.stripe_payment_intent_id)
    _deliver(webhook, fake, "charge.dispute.created", dispute)
    return dispute


def _won(fake: FakeStripe, webhook: Webhook, dispute: dict[str, Any]) -> None:
    _deliver(webhook, fake, "charge.dispute.closed", {**dispute, "status": "won"})


def _refund(fake: FakeStripe, webhook: Webhook, payment: Payment, cents: int) -> None:
    charge = fake.charge_object(payment.stripe_payment_intent_id, amount_refunded=cents)
    _deliver(webhook, fake, "charge.refunded", charge)


def _spend(buyer: Buyer, credits: int) -> None:
    credits_grant(
        user_id=buyer.user.pk, amount=-credits, kind=LedgerEntry.Kind.ADJUSTMENT, memo="spent"
    )


def _status(payment: Payment) -> str:
    payment.refresh_from_db()
    return payment.status


def test_a_won_dispute_lifts_the_suspension_once_an_admin_cleared_the_shortfall(
    buyer: Buyer, fake_stripe: FakeStripe, webhook: Webhook, admin_client: Client
) -> None:
    # given a refund of 10,000,000 credits of which 7,000,000 were spent: suspended
    first = paid(buyer, fake_stripe, webhook)
    _spend(buyer, 7_000_000)
    _refund(fake_stripe, webhook, first, 1_000)
    assert buyer.account.is_suspended is True
    # when an admin clears the suspension
    admin_clear_suspension(admin_client, buyer.account)
    assert buyer.account.is_suspended is False
    # when a later payment is disputed (suspended again), then the dispute is won
    second = paid(buyer, fake_stripe, webhook)
    dispute = _dispute(fake_stripe, webhook, second, "dp_after_clear")
    assert buyer.account.is_suspended is True
    _won(fake_stripe, webhook, dispute)
    # then nothing justifies the suspension any more: lifted
    assert buyer.account.is_suspended is False
    assert _status(second) == Payment.Status.PAID
    assert buyer.balance() == 10_000_000
    # and the clearing is recorded: who, when, how much
    clearance = SuspensionClearance.objects.get()
    assert (clearance.staff_user.email, clearance.shortfall_cleared) == (
        "root@example.com",
        7_000_000,
    )
    assert clearance.created_at is not None
    first.refresh_from_db()
    assert (first.shortfall, first.shortfall_cleared) == (7_000_000, 7_000_000)


def test_a_won_dispute_keeps_the_suspension_while_a_shortfall_is_uncleared(
    buyer: Buyer, fake_stripe: FakeStripe, webhook: Webhook
) -> None:
    first = paid(buyer, fake_stripe, webhook)
    second = paid(buyer, fake_stripe, webhook)
    _spend(buyer, 15_000_000)
    _refund(fake_stripe, webhook, first, 1_000)  # 5,000,000 available, 10,000,000 due
    dispute = _dispute(fake_stripe, webhook, second, "dp_shortfall")
    _won(fake_stripe, webhook, dispute)
    assert _status(second) == Payment.Status.PAID
    first.refresh_from_db()
    assert (first.shortfall, first.shortfall_cleared) == (5_000_000, 0)
    assert buyer.account.is_suspended is True


def test_a_new_shortfall_after_a_clearing_counts_again(
    buyer: Buyer, fake_stripe: FakeStripe, webhook: Webhook, admin_client: Client
) -> None:
    # given the 100 USD pack (105M credits), all but 10M spent, 25 USD refunded
    first = paid(buyer, fake_stripe, webhook, pack="hundred")
    _spend(buyer, 95_000_000)
    _refund(fake_stripe, webhook, first, 2_500)  # due 26.25M, 10M available
    admin_clear_suspension(admin_client, buyer.account)
    assert buyer.account.is_suspended is False
    # when a second partial refund of the same payment is short again
    _refund(fake_stripe, webhook, first, 5_000)
    first.refresh_from_db()
    assert (first.shortfall, first.shortfall_cleared) == (42_500_000, 16_250_000)
    assert buyer.account.is_suspended is True
    # then a won dispute elsewhere does not lift it: 26,250,000 are owed and uncleared
    second = paid(buyer, fake_stripe, webhook)
    _won(fake_stripe, webhook, _dispute(fake_stripe, webhook, second, "dp_new_shortfall"))
    assert buyer.account.is_suspended is True


def test_two_open_disputes_lift_the_suspension_only_when_both_are_won(
    buyer: Buyer, fake_stripe: FakeStripe, webhook: Webhook
) -> None:
    first = paid(buyer, fake_stripe, webhook)
    second = paid(buyer, fake_stripe, webhook)
    one = _dispute(fake_stripe, webhook, first, "dp_one")
    two = _dispute(fake_stripe, webhook, second, "dp_two")
    _won(fake_stripe, webhook, one)
    assert (_status(first), _status(second)) == (Payment.Status.PAID, Payment.Status.DISPUTED)
    assert buyer.account.is_suspended is True
    _won(fake_stripe, webhook, two)
    assert _status(second) == Payment.Status.PAID
    assert buyer.account.is_suspended is False


def test_two_disputes_of_one_payment(
    buyer: Buyer, fake_stripe: FakeStripe, webhook: Webhook
) -> None:
    # given one payment disputed twice (an inquiry, then a chargeback, say)
    payment = paid(buyer, fake_stripe, webhook)
    one = _dispute(fake_stripe, webhook, payment, "dp_first")
    two = _dispute(fake_stripe, webhook, payment, "dp_second")
    # when the first is won, the payment is still disputed by the second
    _won(fake_stripe, webhook, one)
    assert _status(payment) == Payment.Status.DISPUTED
    assert buyer.account.is_suspended is True
    # and when the second is won too, the payment is paid and the account free
    _won(fake_stripe, webhook, two)
    assert _status(payment) == Payment.Status.PAID
    assert buyer.account.is_suspended is False
    assert sorted(PaymentDispute.objects.values_list("status", flat=True)) == ["won", "won"]


def test_a_lost_dispute_keeps_suspending_until_an_admin_clears_it(
    buyer: Buyer, fake_stripe: FakeStripe, webhook: Webhook, admin_client: Client
) -> None:
    first = paid(buyer, fake_stripe, webhook)
    lost = _dispute(fake_stripe, webhook, first, "dp_lost")
    _deliver(webhook, fake_stripe, "charge.dispute.closed", {**lost, "status": "lost"})
    second = paid(buyer, fake_stripe, webhook)
    won = _dispute(fake_stripe, webhook, second, "dp_won_while_lost")
    _won(fake_stripe, webhook, won)
    assert _status(first) == Payment.Status.DISPUTED
    assert buyer.account.is_suspended is True  # the lost one still justifies it
    # when an admin clears it, the lost dispute is recorded as cleared
    admin_clear_suspension(admin_client, buyer.account)
    assert PaymentDispute.objects.get(stripe_dispute_id="dp_lost").clearance is not None
    # then a later dispute, once won, lifts the suspension it brought
    third = paid(buyer, fake_stripe, webhook)
    _won(fake_stripe, webhook, _dispute(fake_stripe, webhook, third, "dp_later"))
    assert buyer.account.is_suspended is False
    assert _status(first) == Payment.Status.DISPUTED


@pytest.mark.parametrize(
    ("refunded_cents", "status", "balance"),
    [
        (0, Payment.Status.PAID, 105_000_000),
        (2_500, Payment.Status.PARTIALLY_REFUNDED, 78_750_000),
        (10_000, Payment.Status.REFUNDED, 0),
    ],
)
def test_after_a_won_dispute_the_status_shows_refunds_made_during_it(
    buyer: Buyer,
    fake_stripe: FakeStripe,
    webhook: Webhook,
    refunded_cents: int,
    status: str,
    balance: int,
) -> None:
    # given the 100 USD pack disputed, then refunded in part or whole while disputed
    payment = paid(buyer, fake_stripe, webhook, pack="hundred")
    dispute = _dispute(fake_stripe, webhook, payment, "dp_refund_meanwhile")
    if refunded_cents:
        _refund(fake_stripe, webhook, payment, refunded_cents)
        assert _status(payment) == Payment.Status.DISPUTED
    # when the dispute is won
    _won(fake_stripe, webhook, dispute)
    # then the status follows the refunds, and the credits taken back stay taken
    assert _status(payment) == status
    assert payment.amount_refunded_cents == refunded_cents
    assert buyer.balance() == balance
    assert buyer.account.is_suspended is False


def test_redelivered_and_reordered_dispute_events_act_once(
    buyer: Buyer, fake_stripe: FakeStripe, webhook: Webhook
) -> None:
    payment = paid(buyer, fake_stripe, webhook)
    dispute = _dispute(fake_stripe, webhook, payment, "dp_redelivered")
    _dispute(fake_stripe, webhook, payment, "dp_redelivered")  # the same, under a new event id
    won = fake_stripe.event("charge.dispute.closed", {**dispute, "status": "won"})
    assert webhook.deliver(won).status_code == 200
    assert webhook.deliver(won).json()["duplicate"] is True
    # a late copy of the opening, after the win, does not open it again
    _dispute(fake_stripe, webhook, payment, "dp_redelivered")
    assert _status(payment) == Payment.Status.PAID
    assert buyer.account.is_suspended is False
    assert PaymentDispute.objects.get().status == PaymentDispute.Status.WON


def test_a_dispute_closing_before_its_opening_arrives(
    buyer: Buyer, fake_stripe: FakeStripe, webhook: Webhook
) -> None:
    # won first: nothing to suspend, and the late opening changes nothing
    payment = paid(buyer, fake_stripe, webhook)
    won = dispute_object("dp_early_won", payment_intent=payment.stripe_payment_intent_id)
    _won(fake_stripe, webhook, won)
    _deliver(webhook, fake_stripe, "charge.dispute.created", won | {"status": "needs_response"})
    assert _status(payment) == Payment.Status.PAID
    assert buyer.account.is_suspended is False
    # lost first: the payment is disputed and the account suspended at once
    other = paid(buyer, fake_stripe, webhook)
    lost = dispute_object("dp_early_lost", payment_intent=other.stripe_payment_intent_id)
    _deliver(webhook, fake_stripe, "charge.dispute.closed", {**lost, "status": "lost"})
    assert _status(other) == Payment.Status.DISPUTED
    assert buyer.account.is_suspended is True


def test_a_dispute_naming_only_its_charge_finds_the_payment(
    buyer: Buyer, fake_stripe: FakeStripe, webhook: Webhook
) -> None:
    # given a paid Checkout whose PaymentIntent event told us its charge
    payment = paid(buyer, fake_stripe, webhook)
    intent = fake_stripe.intent_object(payment.stripe_payment_intent_id)
    _deliver(webhook, fake_stripe, "payment_intent.succeeded", intent)
    payment.refresh_from_db()
    assert payment.stripe_charge_id == intent["latest_charge"]
    # when a dispute names only the charge
    dispute = dispute_object("dp_charge_only", charge=intent["latest_charge"])
    _deliver(webhook, fake_stripe, "charge.dispute.created", dispute)
    # then it is found: disputed, suspended
    assert _status(payment) == Payment.Status.DISPUTED
    assert buyer.account.is_suspended is True


def test_a_dispute_records_the_charge_so_a_later_one_finds_it_by_charge(
    buyer: Buyer, fake_stripe: FakeStripe, webhook: Webhook
) -> None:
    payment = paid(buyer, fake_stripe, webhook)
    assert payment.stripe_charge_id == ""
    first = dispute_object(
        "dp_both_ids", charge="ch_test_disputed", payment_intent=payment.stripe_payment_intent_id
    )
    _deliver(webhook, fake_stripe, "charge.dispute.created", first)
    payment.refresh_from_db()
    assert payment.stripe_charge_id == "ch_test_disputed"
    _won(fake_stripe, webhook, dispute_object("dp_charge_later", charge="ch_test_disputed"))
    # the second dispute (closed won straight away) was found by its charge
    assert PaymentDispute.objects.get(stripe_dispute_id="dp_charge_later").payment_id == payment.pk
