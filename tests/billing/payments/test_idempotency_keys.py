"""Two installations may share one Stripe account, and their payments and users share
primary keys: the idempotency keys sent to Stripe are unique per installation and
deterministic per call (a retried call reuses its key), and a Checkout's metadata names
the installation, so one installation's events never change the other's payments."""

from __future__ import annotations

from typing import Any

import pytest

from billing.models import CreditAccount
from billing.models_payments import AutoRecharge, BillingProfile, Installation, Payment
from billing.services import payments, recharge
from tests.billing.payments.conftest import Buyer, Webhook, completed
from tests.fakes.stripe_server import FakeStripe

pytestmark = pytest.mark.usefixtures("packs")

OTHER = "0123456789abcdef0123456789abcdef"


def _keys(fake: FakeStripe, path: str) -> list[str]:
    return [c["headers"]["Idempotency-Key"] for c in fake.calls("POST", path)]


def test_the_installation_id_is_made_once_and_kept(db: None) -> None:
    first = payments.installation_id()
    assert len(first) == 32 and payments.installation_id() == first
    assert Installation.objects.count() == 1
    key = payments.stripe_idempotency_key("checkout-payment-7")
    assert key == f"gw-{first}-checkout-payment-7"
    assert payments.stripe_idempotency_key("checkout-payment-7") == key


def test_two_installations_on_one_stripe_account_do_not_share_keys(
    make_buyer: Any, fake_stripe: FakeStripe
) -> None:
    # given another installation, on the same Stripe account, whose user 1 bought credits
    Installation.objects.create(pk=1, installation_id=OTHER)
    theirs: Buyer = make_buyer("theirs@example.com")
    theirs.checkout(pack="ten")
    their_customer = BillingProfile.objects.get(account=theirs.account).stripe_customer_id
    # when our installation's user with the same primary key (another person) buys too
    Installation.objects.all().delete()
    BillingProfile.objects.all().delete()
    type(theirs.user).objects.filter(pk=theirs.user.pk).update(email="ours@example.com")
    payment, _ = theirs.checkout(pack="ten")
    # then Stripe made a second customer for them, not a replay of the other's
    ours = Installation.objects.get().installation_id
    assert ours != OTHER
    our_customer = BillingProfile.objects.get(account=theirs.account).stripe_customer_id
    assert our_customer != their_customer
    assert fake_stripe.customers[our_customer]["email"] == "ours@example.com"
    assert _keys(fake_stripe, "/v1/customers") == [
        f"gw-{OTHER}-customer-user-{theirs.user.pk}",
        f"gw-{ours}-customer-user-{theirs.user.pk}",
    ]
    assert _keys(fake_stripe, "/v1/checkout/sessions")[-1] == (
        f"gw-{ours}-checkout-payment-{payment.pk}"
    )


def test_an_auto_recharge_key_names_the_installation_and_the_payment(
    make_buyer: Any, fake_stripe: FakeStripe, packs: Any
) -> None:
    # given a buyer whose card was saved by a checkout, with auto-recharge on below 8 USD
    buyer: Buyer = make_buyer()
    _, session = buyer.checkout(pack="ten", save_card="on")
    fake_stripe.session_pay(session)
    BillingProfile.objects.filter(account=buyer.account).update(tier="builder")
    AutoRecharge.objects.create(
        account=buyer.account, is_enabled=True, threshold=8_000_000, pack=packs["ten"]
    )
    CreditAccount.objects.filter(pk=buyer.account.pk).update(recharge_below=8_000_000)
    # when an attempt runs
    assert recharge.recharge_attempt(account_id=buyer.account.pk) == "charged"
    # then its PaymentIntent's key is this installation's, for that payment
    payment = Payment.objects.get(kind=Payment.Kind.AUTO_RECHARGE)
    installation = Installation.objects.get().installation_id
    assert _keys(fake_stripe, "/v1/payment_intents") == [
        f"gw-{installation}-recharge-payment-{payment.pk}"
    ]
    # and its metadata names our payment and this installation, as a Checkout's does
    (intent,) = [i for i in fake_stripe.intents.values() if i.get("off_session")]
    assert intent["metadata"] == {
        "gateway_payment_id": str(payment.pk),
        "gateway_installation": installation,
    }


def test_another_installations_refund_of_the_same_payment_id_is_not_ours(
    make_buyer: Any, fake_stripe: FakeStripe, webhook: Webhook
) -> None:
    # given our checkout, not yet completed (no PaymentIntent recorded on it)
    buyer: Buyer = make_buyer()
    payment, session = buyer.checkout(pack="ten")
    # when another installation's payment of the same id and amount is refunded
    theirs = {"gateway_payment_id": str(payment.pk), "gateway_installation": OTHER}
    charge = {
        "id": "ch_test_theirs",
        "object": "charge",
        "amount": 1_000,
        "currency": "usd",
        "payment_intent": "pi_test_theirs",
        "metadata": theirs,
        "amount_refunded": 1_000,
    }
    assert webhook.deliver(fake_stripe.event("charge.refunded", charge)).status_code == 200
    # then our payment is untouched, and our own completion still grants its credits
    payment.refresh_from_db()
    assert (payment.status, payment.stripe_payment_intent_id) == (Payment.Status.PENDING, "")
    assert webhook.deliver(completed(fake_stripe, session)).status_code == 200
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PAID
    assert buyer.balance() == 10_000_000
