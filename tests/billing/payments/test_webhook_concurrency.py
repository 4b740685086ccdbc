"""Ten simultaneous deliveries of one event, and of ten different events about one
session, on PostgreSQL: the payment is granted once. Disputes and refunds of one account
at the same time: a dispute is recorded once, and the suspension ends as the last
committed state says (lifted only when nothing justifies it)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, connections

from billing.models import LedgerEntry
from billing.models_payments import Payment, PaymentDispute, StripeEvent
from billing.services import credits_grant
from tests.billing.payments.conftest import Webhook, completed, dispute_object, paid, purchases_of
from tests.fakes.stripe_server import FakeStripe

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite serialises every writer, so there is no race to test",
    ),
    pytest.mark.django_db(transaction=True),
]

DELIVERIES = 10


def _race(payloads: list[bytes]) -> list[int]:
    barrier = threading.Barrier(len(payloads))
    statuses: list[int] = []
    lock = threading.Lock()

    def deliver(payload: bytes) -> None:
        try:
            hook = Webhook()
            barrier.wait()
            status = hook.deliver(payload).status_code
            with lock:
                statuses.append(status)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver, args=(p,)) for p in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_ten_simultaneous_deliveries_of_one_event_grant_once(
    make_buyer: Any, fake_stripe: FakeStripe, packs: Any
) -> None:
    buyer = make_buyer()
    payment, session = buyer.checkout(pack="hundred")
    event = completed(fake_stripe, session)
    statuses = _race([event] * DELIVERIES)
    assert statuses == [200] * DELIVERIES
    assert StripeEvent.objects.count() == 1
    assert purchases_of(payment) == [105_000_000]
    assert buyer.balance() == 105_000_000
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.PAID


def test_ten_different_events_for_one_session_grant_once(
    make_buyer: Any, fake_stripe: FakeStripe, packs: Any
) -> None:
    buyer = make_buyer()
    payment, session = buyer.checkout(pack="ten")
    fake_stripe.session_pay(session)
    obj = fake_stripe.session_object(session)
    events = [fake_stripe.event("checkout.session.completed", obj) for _ in range(DELIVERIES)]
    statuses = _race(events)
    assert statuses == [200] * DELIVERIES
    assert StripeEvent.objects.count() == DELIVERIES
    assert purchases_of(payment) == [10_000_000]
    assert buyer.balance() == 10_000_000


def test_ten_events_opening_one_dispute_record_it_once(
    make_buyer: Any, fake_stripe: FakeStripe, packs: Any
) -> None:
    buyer = make_buyer()
    payment = paid(buyer, fake_stripe, Webhook())
    dispute = dispute_object("dp_race", payment_intent=payment.stripe_payment_intent_id)
    events = [fake_stripe.event("charge.dispute.created", dispute) for _ in range(DELIVERIES)]
    assert _race(events) == [200] * DELIVERIES
    assert PaymentDispute.objects.filter(payment=payment).count() == 1
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.DISPUTED
    assert buyer.account.is_suspended is True


def test_two_disputes_won_at_once_lift_the_suspension(
    make_buyer: Any, fake_stripe: FakeStripe, packs: Any
) -> None:
    # given two payments of one account, each disputed
    buyer = make_buyer()
    hook = Webhook()
    won = []
    for n in range(2):
        payment = paid(buyer, fake_stripe, hook)
        dispute = dispute_object(f"dp_won_{n}", payment_intent=payment.stripe_payment_intent_id)
        assert hook.deliver(fake_stripe.event("charge.dispute.created", dispute)).status_code == 200
        won.append(fake_stripe.event("charge.dispute.closed", {**dispute, "status": "won"}))
    assert buyer.account.is_suspended is True
    # when both are won at the same moment (each delivered five times)
    assert _race(won * 5) == [200] * 10
    # then whichever committed last saw the other won: nothing justifies the suspension
    assert set(PaymentDispute.objects.values_list("status", flat=True)) == {"won"}
    assert buyer.account.is_suspended is False


def test_a_win_and_a_short_refund_at_once_leave_the_account_suspended(
    make_buyer: Any, fake_stripe: FakeStripe, packs: Any
) -> None:
    # given two payments, all credits spent, the first disputed
    buyer = make_buyer()
    hook = Webhook()
    first = paid(buyer, fake_stripe, hook)
    second = paid(buyer, fake_stripe, hook)
    credits_grant(
        user_id=buyer.user.pk, amount=-20_000_000, kind=LedgerEntry.Kind.ADJUSTMENT, memo="spent"
    )
    dispute = dispute_object("dp_vs_refund", payment_intent=first.stripe_payment_intent_id)
    assert hook.deliver(fake_stripe.event("charge.dispute.created", dispute)).status_code == 200
    # when the dispute is won while the second payment is refunded in full
    won = fake_stripe.event("charge.dispute.closed", {**dispute, "status": "won"})
    refund = fake_stripe.event(
        "charge.refunded",
        fake_stripe.charge_object(second.stripe_payment_intent_id, amount_refunded=1_000),
    )
    assert _race([won, refund]) == [200, 200]
    # then the refund's 10,000,000 shortfall keeps the account suspended, whatever the order
    assert Payment.objects.get(pk=second.pk).shortfall == 10_000_000
    assert Payment.objects.get(pk=first.pk).status == Payment.Status.PAID
    assert buyer.account.is_suspended is True
