"""Starting a Checkout from the console: a pending Payment, one Stripe Customer per user,
the session's parameters as Stripe receives them, and credits never from the return URL."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from billing.models_payments import BillingProfile, Installation, Payment
from tests.billing.payments.conftest import Buyer
from tests.fakes.stripe_server import FakeStripe

pytestmark = pytest.mark.usefixtures("packs")


def test_a_pack_checkout_creates_a_pending_payment_and_a_session(
    make_buyer: Any, fake_stripe: FakeStripe
) -> None:
    buyer: Buyer = make_buyer()
    # when the user buys the 100 USD pack, saving the card for auto-recharge
    response = buyer.client.post("/credits/checkout/", {"pack": "hundred", "save_card": "on"})
    # then 303 to the session's page (on the fake Stripe)
    assert response.status_code == 303
    assert response["Location"].startswith(f"{fake_stripe.url}/pay/cs_test_")
    payment = Payment.objects.get()
    assert (payment.status, payment.amount_cents, payment.credits) == (
        "pending",
        10_000,
        105_000_000,
    )
    # and Stripe received the price in cents, our payment's id and the opt-in
    (call,) = fake_stripe.calls("POST", "/v1/checkout/sessions")
    params = call["params"]
    assert params["mode"] == "payment"
    assert params["client_reference_id"] == str(payment.pk)
    installation = Installation.objects.get().installation_id
    ours = {"gateway_payment_id": str(payment.pk), "gateway_installation": installation}
    assert params["metadata"] == ours
    assert params["line_items"][0]["price_data"]["unit_amount"] == "10000"
    assert params["line_items"][0]["price_data"]["currency"] == "usd"
    assert params["payment_intent_data"]["setup_future_usage"] == "off_session"
    assert params["payment_intent_data"]["metadata"] == ours
    assert params["success_url"].endswith(f"/credits/?payment={payment.pk}")
    assert call["headers"]["Idempotency-Key"] == f"gw-{installation}-checkout-payment-{payment.pk}"
    assert call["headers"]["Authorization"] == "Bearer sk_test_gateway"
    assert call["headers"]["Stripe-Version"] == "2026-10-28.endive"
    assert params["customer"] == BillingProfile.objects.get().stripe_customer_id


def test_the_customer_is_created_once_and_reused(make_buyer: Any, fake_stripe: FakeStripe) -> None:
    buyer: Buyer = make_buyer()
    buyer.checkout(pack="ten")
    buyer.checkout(amount_usd="25")
    assert len(fake_stripe.calls("POST", "/v1/customers")) == 1
    customers = {
        c["params"]["customer"] for c in fake_stripe.calls("POST", "/v1/checkout/sessions")
    }
    assert len(customers) == 1
    # without the opt-in, no card is saved
    assert all(
        "setup_future_usage" not in c["params"]["payment_intent_data"]
        for c in fake_stripe.calls("POST", "/v1/checkout/sessions")
    )


def test_a_custom_amount_is_charged_at_the_base_rate(
    make_buyer: Any, fake_stripe: FakeStripe
) -> None:
    buyer: Buyer = make_buyer()
    payment, _ = buyer.checkout(amount_usd="25")
    assert (payment.amount_cents, payment.credits, payment.pack_id) == (2_500, 25_000_000, None)


@pytest.mark.parametrize(
    "form",
    [
        {"amount_usd": "4"},
        {"amount_usd": "10001"},
        {"amount_usd": "12.50"},
        {"amount_usd": "abc"},
        {"amount_usd": ""},
        {"pack": "nope"},
    ],
)
def test_a_bad_amount_or_pack_is_refused_without_a_payment(
    make_buyer: Any, fake_stripe: FakeStripe, form: dict[str, str]
) -> None:
    buyer: Buyer = make_buyer()
    response = buyer.client.post("/credits/checkout/", form, follow=True)
    assert response.status_code == 200
    assert (
        b"Choose a pack or a whole number of USD from 5 to 10000" in response.content
        or b"No such pack" in response.content
    )
    assert Payment.objects.count() == 0
    assert fake_stripe.calls("POST", "/v1/checkout/sessions") == []


def test_the_return_url_never_grants_credits(make_buyer: Any, fake_stripe: FakeStripe) -> None:
    buyer: Buyer = make_buyer()
    payment, session = buyer.checkout(pack="ten")
    fake_stripe.session_pay(session)  # paid at Stripe, but no webhook yet
    page = buyer.client.get(f"/credits/?payment={payment.pk}")
    assert page.status_code == 200
    assert b"is being confirmed" in page.content
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING
    assert buyer.balance() == 0
    status = buyer.client.get(f"/credits/payments/{payment.pk}/").json()
    assert status == {"status": "pending", "balance": 0, "available": 0}


def test_without_a_secret_key_the_page_says_payments_are_off_and_nothing_500s(
    make_buyer: Any, settings: Any
) -> None:
    settings.STRIPE_SECRET_KEY = ""
    buyer: Buyer = make_buyer()
    page = buyer.client.get("/credits/")
    assert page.status_code == 200
    assert b"Payments are not configured" in page.content
    response = buyer.client.post("/credits/checkout/", {"pack": "ten"}, follow=True)
    assert response.status_code == 200
    assert b"Payments are not configured" in response.content
    assert Payment.objects.count() == 0


def test_stripe_down_fails_the_payment_and_says_so(make_buyer: Any, settings: Any) -> None:
    settings.STRIPE_SECRET_KEY = "sk_test_gateway"
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens there
    settings.STRIPE_TIMEOUT_SECONDS = 2.0
    buyer: Buyer = make_buyer()
    response = buyer.client.post("/credits/checkout/", {"amount_usd": "10"}, follow=True)
    assert response.status_code == 200
    assert b"Stripe" in response.content
    assert Payment.objects.filter(status=Payment.Status.PENDING).count() == 0


def test_checkout_needs_login_and_csrf(db: None, packs: Any) -> None:
    anonymous = Client()
    assert anonymous.post("/credits/checkout/", {"pack": "ten"}).status_code == 302
    assert anonymous.get("/credits/").status_code == 302
    from accounts.services import user_create

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user_create(email="csrf@example.com"))
    assert strict.post("/credits/checkout/", {"pack": "ten"}).status_code == 403
