"""Refund and dispute events that match no payment of ours (yet): Stripe's events may
overtake the completion that records our ids. While such an event is young it is answered
500 and left unprocessed, so Stripe's retry applies it once the payment is known; past
``BILLING_WEBHOOK_UNMATCHED_RETRY_SECONDS`` (from the event's ``created``) it is stored as
processed and ignored, and logged."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from billing.models import LedgerEntry
from billing.models_payments import Payment, StripeEvent
from tests.billing.payments.conftest import (
    Buyer,
    Webhook,
    created_ago,
    dispute_object,
    purchases_of,
)
from tests.fakes.stripe_server import FakeStripe

pytestmark = pytest.mark.usefixtures("packs")

THREE_DAYS = 3 * 24 * 3600


@pytest.fixture
def buyer(make_buyer: Any, fake_stripe: FakeStripe) -> Buyer:
    return make_buyer()


def _stranger_events(fake: FakeStripe) -> list[bytes]:
    """One refund and the two dispute events, about a charge nobody here knows."""
    charge = {
        "id": "ch_test_stranger",
        "object": "charge",
        "amount": 1_000,
        "currency": "usd",
        "payment_intent": "pi_test_stranger",
        "metadata": {},
        "amount_refunded": 1_000,
    }
    dispute = dispute_object(
        "dp_stranger", charge="ch_test_stranger", payment_intent="pi_test_stranger"
    )
    return [
        fake.event("charge.refunded", charge),
        fake.event("charge.dispute.created", dispute),
        fake.event("charge.dispute.closed", {**dispute, "status": "won"}),
    ]


def test_a_young_unmatched_event_is_answered_500_and_left_for_the_retry(
    buyer: Buyer, fake_stripe: FakeStripe, webhook: Webhook
) -> None:
    for event in _stranger_events(fake_stripe):
        response = webhook.deliver(event)
        assert response.status_code == 500
    stored = StripeEvent.objects.order_by("id")
    assert [e.processed_at for e in stored] == [None, None, None]
    assert all("matches no payment" in e.error for e in stored)
    assert LedgerEntry.objects.count() == 0


@pytest.mark.parametrize("index", [0, 1, 2])
def test_an_old_unmatched_event_is_stored_as_ignored_and_logged(
    buyer: Buyer,
    fake_stripe: FakeStripe,
    webhook: Webhook,
    caplog: pytest.LogCaptureFixture,
    index: int,
) -> None:
    event = created_ago(_stranger_events(fake_stripe)[index], THREE_DAYS + 60)
    with caplog.at_level(logging.WARNING, logger="billing.services.webhooks"):
        response = webhook.deliver(event)
    assert response.status_code == 200
    stored = StripeEvent.objects.get()
    assert stored.processed_at is not None and stored.error == ""
    assert "matches no payment" in stored.ignored_reason
    assert any("ignored after retries" in r.getMessage() for r in caplog.records)
    # and Stripe's next retry is a duplicate
    assert webhook.deliver(event).json()["duplicate"] is True


def test_the_retry_window_is_a_setting(
    buyer: Buyer, fake_stripe: FakeStripe, webhook: Webhook, settings: Any
) -> None:
    settings.BILLING_WEBHOOK_UNMATCHED_RETRY_SECONDS = 60
    refund = _stranger_events(fake_stripe)[0]
    assert webhook.deliver(created_ago(refund, 30)).status_code == 500
    assert webhook.deliver(created_ago(refund, 120)).status_code == 200
    assert StripeEvent.objects.get().ignored_reason != ""


def test_a_refund_before_our_ids_are_known_is_applied_by_stripes_retry(
    buyer: Buyer, fake_stripe: FakeStripe, webhook: Webhook
) -> None:
    # given a paid session whose completion is late, and a refund event whose charge
    # carries none of our metadata (Stripe copies it from the PaymentIntent; not always)
    payment, session = buyer.checkout(pack="ten")
    fake_stripe.session_pay(session)
    intent = fake_stripe.session_object(session)["payment_intent"]
    refund = fake_stripe.event(
        "charge.refunded", fake_stripe.charge_object(intent, amount_refunded=1_000, metadata={})
    )
    # when the refund comes first: 500, nothing booked, the event not done
    assert webhook.deliver(refund).status_code == 500
    assert StripeEvent.objects.get().processed_at is None
    assert buyer.balance() == 0
    # then the completion lands, and Stripe's retry of the refund takes the credits back
    completion = fake_stripe.event(
        "checkout.session.completed", fake_stripe.session_object(session)
    )
    assert webhook.deliver(completion).status_code == 200
    assert buyer.balance() == 10_000_000
    assert webhook.deliver(refund).json() == {"received": True, "duplicate": False}
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED
    assert purchases_of(payment) == [10_000_000]
    assert (payment.credits_refunded, payment.shortfall) == (10_000_000, 0)
    assert payment.stripe_charge_id == fake_stripe.intent_object(intent)["latest_charge"]
    assert buyer.balance() == 0
    assert StripeEvent.objects.filter(processed_at__isnull=True).count() == 0


def test_a_dispute_of_a_payment_not_yet_paid_waits_for_the_completion(
    buyer: Buyer, fake_stripe: FakeStripe, webhook: Webhook
) -> None:
    # given an unpaid completion (a bank debit clearing) that recorded the PaymentIntent
    payment, session = buyer.checkout(pack="ten")
    unpaid = fake_stripe.session_object(session, payment_status="unpaid", status="complete")
    fake_stripe.session_pay(session)
    intent = fake_stripe.session_object(session)["payment_intent"]
    unpaid["payment_intent"] = intent
    webhook.deliver(fake_stripe.event("checkout.session.completed", unpaid))
    # when a dispute arrives before the payment succeeded: 500, nothing changes
    dispute = fake_stripe.event(
        "charge.dispute.created", dispute_object("dp_early", payment_intent=intent)
    )
    assert webhook.deliver(dispute).status_code == 500
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING
    assert buyer.account.is_suspended is False
    # then after the payment succeeds, Stripe's retry disputes it
    paid = fake_stripe.session_object(session)
    webhook.deliver(fake_stripe.event("checkout.session.async_payment_succeeded", paid))
    assert webhook.deliver(dispute).status_code == 200
    payment.refresh_from_db()
    assert payment.status == Payment.Status.DISPUTED
    assert buyer.account.is_suspended is True
    assert buyer.balance() == 10_000_000


def test_a_refund_naming_a_payment_it_contradicts_is_not_waited_for(
    buyer: Buyer, fake_stripe: FakeStripe, webhook: Webhook
) -> None:
    # given our paid payment, and a refunded charge elsewhere on the Stripe account (another
    # installation's payment with the same id) whose PaymentIntent is not ours
    payment, session = buyer.checkout(pack="ten")
    fake_stripe.session_pay(session)
    completion = fake_stripe.event(
        "checkout.session.completed", fake_stripe.session_object(session)
    )
    assert webhook.deliver(completion).status_code == 200
    charge = fake_stripe.charge_object(
        fake_stripe.session_object(session)["payment_intent"],
        amount_refunded=1_000,
        id="ch_test_elsewhere",
        payment_intent="pi_test_elsewhere",
    )
    # when its refund is delivered: 200 at once, done, and nothing taken back
    assert webhook.deliver(fake_stripe.event("charge.refunded", charge)).status_code == 200
    assert StripeEvent.objects.filter(processed_at__isnull=True).count() == 0
    payment.refresh_from_db()
    assert (payment.status, payment.credits_refunded) == (Payment.Status.PAID, 0)
    assert buyer.balance() == 10_000_000
