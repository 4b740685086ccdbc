"""The one module that talks to Stripe (the only importer of the ``stripe`` SDK).

- The API version is pinned (``API_VERSION``): a Stripe account's default version may move,
  the shapes this code reads may not.
- Every call has an explicit timeout (``STRIPE_TIMEOUT_SECONDS``) and no automatic retry:
  the callers decide, with an idempotency key, whether to try again.
- ``STRIPE_API_BASE``, when set, replaces ``https://api.stripe.com`` (the test suite's
  local Stripe stand-in serves the calls there).
- Results are small frozen dataclasses; the SDK's objects never leave this module, and its
  errors become :class:`PaymentError` subclasses (domain errors with code, message, param).

Amounts are in the currency's minor unit (USD cents), as Stripe counts them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

import stripe
from django.conf import settings

from config.errors import DomainError

API_VERSION = "2026-10-28.endive"
WEBHOOK_TOLERANCE_SECONDS = 300


class PaymentError(DomainError):
    """A failure talking to Stripe. ``is_retryable``: the same call may succeed later."""

    is_retryable = False


class PaymentsNotConfigured(PaymentError):
    def __init__(self) -> None:
        super().__init__("payments_not_configured", "Payments are not configured")


class PaymentProviderError(PaymentError):
    """Stripe could not be reached, timed out, or refused the call (not the card)."""

    def __init__(self, message: str, *, is_retryable: bool) -> None:
        super().__init__("payment_provider_error", message)
        self.is_retryable = is_retryable


class CardDeclined(PaymentError):
    """The card was declined; ``decline_code`` is Stripe's reason (``insufficient_funds``…)
    and ``payment_intent_id`` the PaymentIntent Stripe created for the attempt, if any."""

    def __init__(
        self, message: str, *, decline_code: str = "", payment_intent_id: str = ""
    ) -> None:
        super().__init__("card_declined", message)
        self.decline_code = decline_code
        self.payment_intent_id = payment_intent_id


class WebhookSignatureInvalid(DomainError):
    def __init__(self, message: str) -> None:
        super().__init__("invalid_signature", message)


@dataclass(frozen=True, slots=True)
class CheckoutSession:
    id: str
    url: str


@dataclass(frozen=True, slots=True)
class PaymentIntent:
    id: str
    status: str  # succeeded, processing, requires_action, requires_payment_method, ...
    amount: int
    currency: str


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """A verified event: its id, type, the ``data.object`` it carries, and the raw
    payload as parsed JSON (stored as received)."""

    id: str
    type: str
    object: dict[str, Any]
    payload: dict[str, Any]


def is_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


@cache
def _client_for(secret_key: str, api_base: str, timeout: float) -> stripe.StripeClient:
    base = {"api": api_base} if api_base else None
    return stripe.StripeClient(
        secret_key,
        stripe_version=API_VERSION,
        base_addresses=base,  # type: ignore[arg-type]
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


def _client() -> stripe.StripeClient:
    if not is_configured():
        raise PaymentsNotConfigured()
    return _client_for(
        settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE, settings.STRIPE_TIMEOUT_SECONDS
    )


def _mapped(exc: stripe.StripeError) -> PaymentError:
    if isinstance(exc, stripe.CardError):
        error = exc.error
        intent = getattr(error, "payment_intent", None) if error else None
        return CardDeclined(
            exc.user_message or str(exc._message or "The card was declined"),
            decline_code=str(getattr(error, "decline_code", "") or "") if error else "",
            payment_intent_id=str(intent["id"]) if intent else "",
        )
    retryable = isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError) or (
        isinstance(exc, stripe.APIError) and (exc.http_status or 500) >= 500
    )
    return PaymentProviderError(
        f"Stripe: {exc._message or type(exc).__name__}", is_retryable=retryable
    )


def customer_create(*, email: str, user_id: int, idempotency_key: str) -> str:
    """Create a Stripe Customer for one of our users; returns its id (``cus_…``)."""
    try:
        customer = _client().v1.customers.create(
            params={"email": email, "metadata": {"user_id": str(user_id)}},
            options={"idempotency_key": idempotency_key},
        )
    except stripe.StripeError as exc:
        raise _mapped(exc) from exc
    return str(customer.id)


def checkout_session_create(
    *,
    payment_id: int,
    customer_id: str,
    amount_cents: int,
    currency: str,
    product_name: str,
    success_url: str,
    cancel_url: str,
    save_card: bool,
    idempotency_key: str,
    installation_id: str = "",
) -> CheckoutSession:
    """A Checkout Session (``mode=payment``) for one of our Payments, named in
    ``client_reference_id`` and in the metadata of the session and its PaymentIntent
    (with ``installation_id``, so another installation on the same Stripe account knows
    the payment is not its own). ``save_card``: keep the card for off-session charges
    (auto-recharge)."""
    metadata = {"gateway_payment_id": str(payment_id)}
    if installation_id:
        metadata["gateway_installation"] = installation_id
    intent_data: dict[str, Any] = {"metadata": metadata}
    if save_card:
        intent_data["setup_future_usage"] = "off_session"
    params: dict[str, Any] = {
        "mode": "payment",
        "customer": customer_id,
        "client_reference_id": str(payment_id),
        "metadata": metadata,
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": currency,
                    "unit_amount": amount_cents,
                    "product_data": {"name": product_name},
                },
            }
        ],
        "payment_intent_data": intent_data,
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    try:
        session = _client().v1.checkout.sessions.create(
            params=params,  # type: ignore[arg-type]
            options={"idempotency_key": idempotency_key},
        )
    except stripe.StripeError as exc:
        raise _mapped(exc) from exc
    return CheckoutSession(id=str(session.id), url=str(session.url))


def customer_card(*, customer_id: str) -> str | None:
    """The id of a card saved on the customer (``pm_…``), or None."""
    try:
        methods = _client().v1.customers.payment_methods.list(
            customer_id, params={"type": "card", "limit": 1}
        )
    except stripe.StripeError as exc:
        raise _mapped(exc) from exc
    return str(methods.data[0].id) if methods.data else None


def payment_intent_charge_saved_card(
    *,
    payment_id: int,
    customer_id: str,
    payment_method_id: str,
    amount_cents: int,
    currency: str,
    idempotency_key: str,
    installation_id: str = "",
) -> PaymentIntent:
    """Charge a saved card with the customer away (``confirm``, ``off_session``). A decline
    raises CardDeclined; the credits come from the ``payment_intent.succeeded`` webhook.
    The metadata names our Payment and, with ``installation_id``, this installation, as a
    Checkout's does, so another installation on the same Stripe account leaves it alone."""
    metadata = {"gateway_payment_id": str(payment_id)}
    if installation_id:
        metadata["gateway_installation"] = installation_id
    try:
        intent = _client().v1.payment_intents.create(
            params={
                "amount": amount_cents,
                "currency": currency,
                "customer": customer_id,
                "payment_method": payment_method_id,
                "confirm": True,
                "off_session": True,
                "metadata": metadata,
            },
            options={"idempotency_key": idempotency_key},
        )
    except stripe.StripeError as exc:
        raise _mapped(exc) from exc
    return PaymentIntent(
        id=str(intent.id),
        status=str(intent.status),
        amount=int(intent.amount),
        currency=str(intent.currency),
    )


def webhook_event_verify(*, payload: bytes, signature: str) -> WebhookEvent:
    """Verify ``Stripe-Signature`` over the raw body with ``STRIPE_WEBHOOK_SECRET`` (the
    SDK's check: HMAC-SHA256 of ``"<t>.<body>"``, timestamp within 300 s) and parse the
    event. Anything else (no header, wrong secret, stale, not JSON, not an event) raises
    WebhookSignatureInvalid."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise WebhookSignatureInvalid("Webhook secret not configured")
    try:
        stripe.WebhookSignature.verify_header(payload, signature, secret, WEBHOOK_TOLERANCE_SECONDS)
        data = json.loads(payload)
    except stripe.SignatureVerificationError as exc:
        raise WebhookSignatureInvalid(str(exc._message or "Bad signature")) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookSignatureInvalid("The body is not JSON") from exc
    try:
        obj = data["data"]["object"]
        event_id, event_type = str(data["id"]), str(data["type"])
    except (KeyError, TypeError) as exc:
        raise WebhookSignatureInvalid("The body is not a Stripe event") from exc
    if not isinstance(obj, dict) or data.get("object") != "event":
        raise WebhookSignatureInvalid("The body is not a Stripe event")
    return WebhookEvent(id=event_id, type=event_type, object=obj, payload=data)
