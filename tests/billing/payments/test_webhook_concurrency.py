"""Ten simultaneous deliveries of one event, and of ten different events about one
session, on PostgreSQL: the payment is granted once."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, connections

from billing.models_payments import Payment, StripeEvent
from tests.billing.payments.conftest import Webhook, completed, purchases_of
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
