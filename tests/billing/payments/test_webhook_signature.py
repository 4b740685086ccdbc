"""Every way a webhook delivery can fail its signature check answers 400 and changes
nothing: no event stored, no payment moved, no credit granted."""

from __future__ import annotations

import time
from typing import Any

import pytest

from billing.models_payments import Payment, StripeEvent
from tests.billing.payments.conftest import Buyer, Webhook, completed, signature_header
from tests.fakes.stripe_server import FakeStripe

pytestmark = pytest.mark.usefixtures("packs")


@pytest.fixture
def paid_event(make_buyer: Any, fake_stripe: FakeStripe) -> tuple[Buyer, Payment, bytes]:
    buyer = make_buyer()
    payment, session = buyer.checkout(pack="ten")
    return buyer, payment, completed(fake_stripe, session)


def _unchanged(buyer: Buyer, payment: Payment) -> None:
    assert StripeEvent.objects.count() == 0
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING
    assert buyer.balance() == 0


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("", id="missing header"),
        pytest.param("garbage", id="unparseable header"),
        pytest.param("t=notanumber,v1=abc", id="bad timestamp"),
        pytest.param(f"t={int(time.time())}", id="no v1 signature"),
        pytest.param(f"t={int(time.time())},v0=abc", id="other scheme only"),
    ],
)
def test_malformed_signature_headers(
    paid_event: tuple[Buyer, Payment, bytes], webhook: Webhook, header: str
) -> None:
    buyer, payment, payload = paid_event
    response = webhook.deliver(payload, header=header)
    assert response.status_code == 400
    _unchanged(buyer, payment)


def test_wrong_secret(paid_event: tuple[Buyer, Payment, bytes], webhook: Webhook) -> None:
    buyer, payment, payload = paid_event
    assert webhook.deliver(payload, secret="whsec_someone_else").status_code == 400
    _unchanged(buyer, payment)


def test_stale_timestamp(paid_event: tuple[Buyer, Payment, bytes], webhook: Webhook) -> None:
    buyer, payment, payload = paid_event
    assert webhook.deliver(payload, at=int(time.time()) - 301).status_code == 400
    _unchanged(buyer, payment)
    # within the 300 s tolerance it is accepted
    assert webhook.deliver(payload, at=int(time.time()) - 250).status_code == 200


def test_body_changed_after_signing(
    paid_event: tuple[Buyer, Payment, bytes], webhook: Webhook
) -> None:
    buyer, payment, payload = paid_event
    header = signature_header(payload)
    tampered = payload.replace(b'"amount_total": 1000', b'"amount_total": 9000')
    assert tampered != payload
    assert webhook.deliver(tampered, header=header).status_code == 400
    _unchanged(buyer, payment)


@pytest.mark.parametrize(
    "body",
    [b"not json at all", b'{"id": "evt_1", "type": "checkout.session.completed"}', b"[1, 2]"],
    ids=["not json", "no data object", "not an object"],
)
def test_signed_but_not_an_event(
    paid_event: tuple[Buyer, Payment, bytes], webhook: Webhook, body: bytes
) -> None:
    buyer, payment, _ = paid_event
    assert webhook.deliver(body).status_code == 400
    _unchanged(buyer, payment)


def test_no_webhook_secret_configured(
    paid_event: tuple[Buyer, Payment, bytes], webhook: Webhook, settings: Any
) -> None:
    buyer, payment, payload = paid_event
    settings.STRIPE_WEBHOOK_SECRET = ""
    assert webhook.deliver(payload).status_code == 400
    _unchanged(buyer, payment)


def test_the_webhook_needs_no_csrf_token_but_only_post(
    paid_event: tuple[Buyer, Payment, bytes], webhook: Webhook
) -> None:
    from django.test import Client

    _, _, payload = paid_event
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(
        "/stripe/webhook/",
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature_header(payload),
    )
    assert response.status_code == 200
    assert strict.get("/stripe/webhook/").status_code == 405
