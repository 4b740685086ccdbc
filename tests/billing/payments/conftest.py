"""Fixtures for the payment tests: the local fake Stripe (the SDK pointed at it through
``STRIPE_API_BASE``), webhook deliveries signed for real with Stripe's scheme, and a
logged-in console user who starts Checkouts."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client

from accounts.models import User
from accounts.services import user_create
from billing.models import CreditAccount, LedgerEntry
from billing.models_payments import Payment, TopUpPack
from tests.fakes.stripe_server import FakeStripe

SECRET_KEY = "sk_test_gateway"
WEBHOOK_SECRET = "whsec_test_gateway"


def signature_header(payload: bytes, *, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    """Stripe's scheme, computed here independently of the SDK:
    ``t=<ts>,v1=HMAC_SHA256(secret, "<ts>.<payload>")``."""
    ts = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


@pytest.fixture(scope="session")
def fake_stripe_server() -> Iterator[FakeStripe]:
    server = FakeStripe().start()
    yield server
    server.stop()


@pytest.fixture
def fake_stripe(fake_stripe_server: FakeStripe, settings: Any) -> FakeStripe:
    fake_stripe_server.reset()
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = fake_stripe_server.url
    settings.STRIPE_CHECKOUT_ORIGIN = fake_stripe_server.url
    return fake_stripe_server


class Webhook:
    """Delivers events to ``POST /stripe/webhook/`` as Stripe does."""

    def __init__(self) -> None:
        self.client = Client()

    def deliver(self, payload: bytes, *, header: str | None = None, **sign: Any) -> Any:
        extra = (
            {}
            if header == ""
            else {
                "HTTP_STRIPE_SIGNATURE": header
                if header is not None
                else signature_header(payload, **sign)
            }
        )
        return self.client.post(
            "/stripe/webhook/", data=payload, content_type="application/json", **extra
        )


@pytest.fixture
def webhook() -> Webhook:
    return Webhook()


@pytest.fixture
def packs(db: None) -> dict[str, TopUpPack]:
    made = [
        TopUpPack.objects.create(slug="ten", name="Ten", price_usd="10.00", credits=10_000_000),
        TopUpPack.objects.create(
            slug="hundred", name="Hundred", price_usd="100.00", credits=105_000_000, sort_order=1
        ),
    ]
    return {pack.slug: pack for pack in made}


@dataclass
class Buyer:
    user: User
    client: Client

    @property
    def account(self) -> CreditAccount:
        return CreditAccount.objects.get(user=self.user)

    def balance(self) -> int:
        return self.account.balance

    def checkout(self, **form: str) -> tuple[Payment, str]:
        """Start a Checkout from the console; (the pending Payment, its session id)."""
        response = self.client.post("/credits/checkout/", form)
        assert response.status_code == 303, response.content
        session_id = urlsplit(response["Location"]).path.rsplit("/", 1)[-1]
        payment = Payment.objects.get(stripe_session_id=session_id)
        return payment, session_id


@pytest.fixture
def make_buyer(db: None) -> Any:
    counter = {"n": 0}

    def make(email: str | None = None) -> Buyer:
        counter["n"] += 1
        user = user_create(email=email or f"buyer{counter['n']}@example.com")
        client = Client()
        client.force_login(user)
        return Buyer(user=user, client=client)

    return make


def purchases_of(payment: Payment) -> list[int]:
    return list(
        LedgerEntry.objects.filter(
            kind=LedgerEntry.Kind.PURCHASE, reference=payment.reference
        ).values_list("amount", flat=True)
    )


def completed(fake: FakeStripe, session_id: str, **changes: Any) -> bytes:
    """The customer pays on the fake's page; the ``checkout.session.completed`` event."""
    fake.session_pay(session_id)
    return fake.event("checkout.session.completed", fake.session_object(session_id, **changes))


def paid(buyer: Buyer, fake: FakeStripe, webhook: Webhook, pack: str = "ten") -> Payment:
    """A Checkout of ``pack`` paid and its completion delivered: the purchase is booked."""
    payment, session = buyer.checkout(pack=pack)
    assert webhook.deliver(completed(fake, session)).status_code == 200
    payment.refresh_from_db()
    return payment


def dispute_object(
    dispute_id: str, *, charge: str = "", payment_intent: str = "", status: str = "needs_response"
) -> dict[str, Any]:
    """A Stripe Dispute as its events carry it (``charge`` and ``payment_intent`` ids; a
    dispute has no metadata of ours)."""
    return {
        "id": dispute_id,
        "object": "dispute",
        "charge": charge or None,
        "payment_intent": payment_intent or None,
        "amount": 1_000,
        "currency": "usd",
        "metadata": {},
        "status": status,
    }


def created_ago(event: bytes, seconds: int) -> bytes:
    """The same event as Stripe made it ``seconds`` ago (its ``created``); the delivery
    itself is signed now, as Stripe signs each retry."""
    body = json.loads(event)
    body["created"] = int(time.time()) - seconds
    return json.dumps(body).encode()


@pytest.fixture
def admin_client(db: None) -> Client:
    """A logged-in superuser, for the admin's account actions."""
    client = Client()
    client.force_login(user_create(email="root@example.com", is_staff=True))
    return client


def admin_clear_suspension(client: Client, account: CreditAccount) -> None:
    """The admin's "Clear suspension" action on one account, through its changelist."""
    response = client.post(
        "/admin/billing/creditaccount/",
        {"action": "clear_suspension", "_selected_action": [str(account.pk)]},
    )
    assert response.status_code == 302, response.content
