"""Stripe's events through the real webhook view, signed with Stripe's scheme: credits
are granted exactly once per payment, whatever arrives and however often; refunds and
disputes take credits back and suspend the account when they were spent."""

from __future__ import annotations

from typing import Any

import pytest

from billing.models import CreditAccount, LedgerEntry
from billing.models_payments import Payment, StripeEvent
from billing.services import webhooks
from tests.billing.payments.conftest import Buyer, Webhook, completed, purchases_of
from tests.fakes.stripe_server import FakeStripe

pytestmark = pytest.mark.usefixtures("packs")


@pytest.fixture
def buyer(make_buyer: Any, fake_stripe: FakeStripe) -> Buyer:
    return make_buyer()


def test_completion_grants_the_pack_once_and_a_duplicate_changes_nothing(
    buyer: Buyer, fake_stripe: FakeStripe, webhook: Webhook
) -> None:
    # given a pending payment for the 100 USD pack (105M credits with its bonus)
    payment, session = buyer.checkout(pack="hundred")
    event = completed(fake_stripe, session)
    # when the completion is delivered, then delivered again
    first = webhook.deliver(event)
    again = webhook.deliver(event)
    # then one purchase entry of 105,000,000 credits, the payment paid, the event processed
    assert first.status_code == 200 and first.json() == {"received": True, "duplicate": False}
    assert again.status_code == 200 and again.json()["duplicate"] is True
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PAID
    assert purchases_of(payment) == [105_000_000]
    assert buyer.balance() == 105_000_000
    assert StripeEvent.objects.get().processed_at is not None


def test_two_event_ids_for_one_session_grant_once(
    buyer: Buyer, fake_stripe: FakeStripe, webhook: Webhook
) -> None:
    payment, session = buyer.checkout(pack="ten")
    fake_stripe.session_pay(session)
    obj = fake_stripe.session_object(session)
    # Stripe may send completed and (for the same session) async_payment_succeeded
    for event_type in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        assert webhook.deliver(fake_stripe.event(event_type, obj)).status_code == 200
    assert webhook.deliver(fake_stripe.event("checkout.session.completed", obj)).status_code == 200
    assert StripeEvent.objects.count() == 3
    assert purchases_of(payment) == [10_000_000]
    assert buyer.balance() == 10_000_000


def test_an_unpaid_completion_grants_nothing_until_the_async_payment_succeeds(
    buyer: Buyer, fake_stripe: FakeStripe, webhook: Webhook
) -> None:
    payment, session = buyer.checkout(pack="ten")
    unpaid = fake_stripe.session_object(session, payment_status="unpaid", status="complete")
    assert (
        webhook.deliver(fake_stripe.event("checkout.session.completed", unpaid)).status_code == 200
    )
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING
    assert buyer.balance() == 0
    # when the bank transfer clears
    fake_stripe.session_pay(session)
    paid = fake_stripe.session_object(session)
    webhook.deliver(fake_stripe.event("checkout.session.async_payment_succeeded", paid))
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PAID
    assert buyer.balance() == 10_000_000


@pytest.mark.parametrize(
    ("changes", "reason"),
    [({"amount_total": 100}, "100 usd"), ({"currency": "eur"}, "1000 eur")],
)
def test_an_amount_or_currency_mismatch_grants_nothing_and_flags_the_payment(
    buyer: Buyer, fake_stripe: FakeStripe, webhook: Webhook, changes: dict[str, Any], reason: str
) -> None:
    payment, session = buyer.checkout(pack="ten")
    response = webhook.deliver(completed(fake_stripe, session, **changes))
    assert response.status_code == 200
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING
    assert payment.needs_review is True
    assert reason in payment.review_reason
    assert purchases_of(payment) == []
    assert buyer.balance() == 0


@pytest.mark.parametrize(
    ("event_type", "status"),
    [
        ("checkout.session.expired", Payment.Status.EXPIRED),
        ("checkout.session.async_payment_failed", Payment.Status.FAILED),
    ],
)
def test_expired_or_failed_sessions_close_the_payment(
    buyer: Buyer, fake_stripe: FakeStripe, webhook: Webhook, event_type: str, status: str
) -> None:
    payment, session = buyer.checkout(pack="ten")
    webhook.deliver(fake_stripe.event(event_type, fake_stripe.session_object(session)))
    payment.refresh_from_db()
    assert payment.status == status
    # a late completion for a closed payment grants nothing
    webhook.deliver(completed(fake_stripe, session))
    payment.refresh_from_db()
    assert payment.status == status
    assert buyer.balance() == 0


def _paid(buyer: Buyer, fake: FakeStripe, webhook: Webhook, pack: str = "ten") -> Payment:
    payment, session = buyer.checkout(pack=pack)
    assert webhook.deliver(completed(fake, session)).status_code == 200
    payment.refresh_from_db()
    return payment


def test_two_partial_refunds_take_back_credits_in_proportion_cumulatively(
    buyer: Buyer, fake_stripe: FakeStripe, webhook: Webhook
) -> None:
    # given the 100 USD pack paid: 105,000,000 credits for 10,000 cents
    payment = _paid(buyer, fake_stripe, webhook, pack="hundred")
    intent = payment.stripe_payment_intent_id
    # when 25 USD is refunded, then 25 USD more (Stripe reports the cumulative amount)
    first = fake_stripe.charge_object(intent, amount_refunded=2_500)
    webhook.deliver(fake_stripe.event("charge.refunded", first))
    webhook.deliver(fake_stripe.event("charge.refunded", first))  # redelivered under a new id
    second = fake_stripe.charge_object(intent, amount_refunded=5_000)
    webhook.deliver(fake_stripe.event("charge.refunded", second))
    # then 26,250,000 were taken each time: 105M x 2,500 / 10,000, and no more
    refunds = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REFUND).order_by("id")
    assert [e.amount for e in refunds] == [-26_250_000, -26_250_000]
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PARTIALLY_REFUNDED
    assert (payment.amount_refunded_cents, payment.credits_refunded) == (5_000, 52_500_000)
    assert buyer.balance() == 52_500_000
    # and a full refund takes the rest and nothing beyond
    webhook.deliver(
        fake_stripe.event(
            "charge.refunded", fake_stripe.charge_object(intent, amount_refunded=10_000)
        )
    )
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED
    assert payment.credits_refunded == 105_000_000
    assert buyer.balance() == 0


def test_a_refund_before_the_completion_event_books_both_once(
    buyer: Buyer, fake_stripe: FakeStripe, webhook: Webhook
) -> None:
    # given a session paid at Stripe whose completion event is late
    payment, session = buyer.checkout(pack="ten")
    fake_stripe.session_pay(session)
    intent = fake_stripe.session_object(session)["payment_intent"]
    # when the full refund arrives first, then the completion
    charge = fake_stripe.charge_object(intent, amount_refunded=1_000)
    assert webhook.deliver(fake_stripe.event("charge.refunded", charge)).status_code == 200
    assert (
        webhook.deliver(
            fake_stripe.event("checkout.session.completed", fake_stripe.session_object(session))
        ).status_code
        == 200
    )
    # then the purchase was booked once and taken back in full: nothing left, nothing owed
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED
    assert purchases_of(payment) == [10_000_000]
    assert payment.credits_refunded == 10_000_000 and payment.shortfall == 0
    assert buyer.balance() == 0
    assert buyer.account.is_suspended is False


def test_refunding_credits_already_spent_suspends_the_account(
    buyer: Buyer, fake_stripe: FakeStripe, webhook: Webhook, api: Any
) -> None:
    from accounts.services import apikey_create
    from billing.services import credits_grant

    payment = _paid(buyer, fake_stripe, webhook)
    # given 7,000,000 of the 10,000,000 credits spent
    credits_grant(
        user_id=buyer.user.pk, amount=-7_000_000, kind=LedgerEntry.Kind.ADJUSTMENT, memo="spent"
    )
    key = apikey_create(user=buyer.user, name="k")
    assert api.get("/v1/credits", HTTP_AUTHORIZATION=f"Bearer {key.secret}").status_code == 200
    # when the whole payment is refunded
    charge = fake_stripe.charge_object(payment.stripe_payment_intent_id, amount_refunded=1_000)
    webhook.deliver(fake_stripe.event("charge.refunded", charge))
    # then the balance stops at zero, the 7,000,000 owed are recorded, the account suspended
    payment.refresh_from_db()
    assert buyer.balance() == 0
    assert (payment.credits_refunded, payment.shortfall) == (3_000_000, 7_000_000)
    assert buyer.account.is_suspended is True
    # and every key answers 403 account_suspended
    response = api.get("/v1/credits", HTTP_AUTHORIZATION=f"Bearer {key.secret}")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "account_suspended"


def test_a_dispute_suspends_the_account_until_it_is_won(
    buyer: Buyer, fake_stripe: FakeStripe, webhook: Webhook, api: Any
) -> None:
    from accounts.services import apikey_create

    payment = _paid(buyer, fake_stripe, webhook)
    key = apikey_create(user=buyer.user, name="k")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key.secret}"}
    dispute = {
        "id": "dp_test_1",
        "object": "dispute",
        "charge": "ch_unknown",
        "payment_intent": payment.stripe_payment_intent_id,
        "amount": 1_000,
        "status": "needs_response",
    }
    webhook.deliver(fake_stripe.event("charge.dispute.created", dispute))
    payment.refresh_from_db()
    assert payment.status == Payment.Status.DISPUTED
    assert api.get("/v1/credits", **auth).json()["error"]["code"] == "account_suspended"
    # when the dispute closes won
    webhook.deliver(fake_stripe.event("charge.dispute.closed", {**dispute, "status": "won"}))
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PAID
    assert buyer.account.is_suspended is False
    assert api.get("/v1/credits", **auth).status_code == 200
    assert buyer.balance() == 10_000_000


def test_a_lost_dispute_keeps_the_suspension(
    buyer: Buyer, fake_stripe: FakeStripe, webhook: Webhook
) -> None:
    payment = _paid(buyer, fake_stripe, webhook)
    dispute = {
        "id": "dp_test_2",
        "object": "dispute",
        "payment_intent": payment.stripe_payment_intent_id,
    }
    webhook.deliver(fake_stripe.event("charge.dispute.created", dispute))
    webhook.deliver(fake_stripe.event("charge.dispute.closed", {**dispute, "status": "lost"}))
    payment.refresh_from_db()
    assert payment.status == Payment.Status.DISPUTED
    assert buyer.account.is_suspended is True


def test_other_event_types_are_stored_and_ignored(
    buyer: Buyer, fake_stripe: FakeStripe, webhook: Webhook
) -> None:
    response = webhook.deliver(
        fake_stripe.event("customer.created", {"id": "cus_x", "object": "customer"})
    )
    assert response.status_code == 200
    event = StripeEvent.objects.get()
    assert (event.type, event.processed_at is not None) == ("customer.created", True)
    assert event.payload["data"]["object"]["id"] == "cus_x"


def test_a_failed_handling_is_not_marked_done_and_the_retry_completes_it(
    buyer: Buyer, fake_stripe: FakeStripe, webhook: Webhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a handler that fails once (the database went away mid-handling, say)
    payment, session = buyer.checkout(pack="ten")
    event = completed(fake_stripe, session)
    real = webhooks.HANDLERS["checkout.session.completed"]
    calls = {"n": 0}

    def fails_once(obj: dict[str, Any]) -> None:
        calls["n"] += 1
        real(obj)  # the grant happens, then the failure rolls it back
        if calls["n"] == 1:
            raise RuntimeError("connection lost")

    monkeypatch.setitem(webhooks.HANDLERS, "checkout.session.completed", fails_once)
    # when it is delivered: 500, nothing granted, the event stored unprocessed
    assert webhook.deliver(event).status_code == 500
    stored = StripeEvent.objects.get()
    assert stored.processed_at is None and "connection lost" in stored.error
    assert buyer.balance() == 0
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.PENDING
    # then Stripe's retry of the same event completes it
    assert webhook.deliver(event).json() == {"received": True, "duplicate": False}
    stored.refresh_from_db()
    assert stored.processed_at is not None and stored.error == ""
    assert buyer.balance() == 10_000_000
    assert CreditAccount.objects.get(user=buyer.user).balance == 10_000_000


def test_an_event_whose_ids_contradict_the_payment_changes_nothing(
    buyer: Buyer, fake_stripe: FakeStripe, webhook: Webhook
) -> None:
    # given our pending payment, and a paid session elsewhere on the Stripe account that
    # happens to carry the same client reference
    payment, session = buyer.checkout(pack="ten")
    other = fake_stripe.session_object(session, id="cs_test_other_app", payment_status="paid")
    # when its completion is delivered
    assert (
        webhook.deliver(fake_stripe.event("checkout.session.completed", other)).status_code == 200
    )
    # then our payment is untouched
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING
    assert buyer.balance() == 0
