"""Stripe's events, handled exactly once.

How each delivery ends:

- **New event, handled**: the event row is inserted and locked, its handler's effect
  (a payment's transition and its ledger entry) and ``processed_at`` commit together in
  one transaction. Answered 200.
- **Redelivered event** (the same id, already processed): nothing changes. Answered 200.
- **Concurrent deliveries of one event**: the unique event id serialises them; the first
  commits, the others find it processed. Even without that, each effect is conditional
  on the *payment's* status, so two different events about one payment (two event ids
  for one session, a completion and an async success) grant once.
- **Handling failed** (a bug, the database): the effect rolls back; the event is then
  stored unprocessed with the error, and answered 500 so that Stripe retries; the retry
  completes it.
- **Other types**: stored, marked processed, answered 200, no effect.

Payments are found from the object: a session's ``client_reference_id`` / metadata, a
PaymentIntent's or charge's ``payment_intent`` id or metadata, a dispute's charge.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from billing.models_payments import AutoRecharge, Payment, StripeEvent
from billing.services import payments, recharge
from billing.stripe_api import WebhookEvent

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], None]


METADATA_KEY = "gateway_payment_id"  # namespaced: the Stripe account may serve other apps


def _payment_id(obj: dict[str, Any]) -> int | None:
    """Our Payment named by a Stripe object: our metadata (a session's
    ``client_reference_id`` too), else the Stripe ids we recorded. A named Payment whose
    recorded Stripe ids contradict the object is not ours to change (None)."""
    kind = obj.get("object")
    intent = obj.get("payment_intent")
    if isinstance(intent, dict):
        intent = intent.get("id")
    if kind == "payment_intent":
        intent = obj.get("id")
    named = (obj.get("metadata") or {}).get(METADATA_KEY)
    if not named and kind == "checkout.session":
        named = obj.get("client_reference_id")
    if named and str(named).isdigit():
        ids = Payment.objects.filter(pk=int(named)).values_list(
            "stripe_session_id", "stripe_payment_intent_id"
        )
        found = ids.first()
        if found is None:
            return None
        session_id, intent_id = found
        if (kind == "checkout.session" and session_id and session_id != obj.get("id")) or (
            intent and intent_id and intent_id != intent
        ):
            log.warning("Stripe %s %s contradicts payment %s", kind, obj.get("id"), named)
            return None
        return int(named)
    query = Q()
    if intent:
        query |= Q(stripe_payment_intent_id=intent)
    charge = obj.get("charge") if kind == "dispute" else obj.get("id") if kind == "charge" else None
    if charge:
        query |= Q(stripe_charge_id=charge)
    if not query:
        return None
    return Payment.objects.filter(query).values_list("pk", flat=True).first()


def _session_paid(session: dict[str, Any]) -> None:
    payment_id = _payment_id(session)
    if payment_id is None:
        log.warning("checkout session %s names no payment of ours", session.get("id"))
        return
    intent = session.get("payment_intent") or ""
    if session.get("payment_status") != "paid":
        # e.g. a bank debit still clearing: async_payment_succeeded will follow
        payments.payment_ids_record(payment_id=payment_id, payment_intent_id=intent)
        return
    payments.payment_mark_paid(
        payment_id=payment_id,
        amount_cents=int(session.get("amount_total") or 0),
        currency=str(session.get("currency") or ""),
        payment_intent_id=intent,
    )


def _session_closed(status: str) -> Handler:
    def handle(session: dict[str, Any]) -> None:
        payment_id = _payment_id(session)
        if payment_id is not None:
            payments.payment_mark_closed(payment_id=payment_id, status=status)

    return handle


def _charge_refunded(charge: dict[str, Any]) -> None:
    payment_id = _payment_id(charge)
    if payment_id is None:
        log.warning("refunded charge %s names no payment of ours", charge.get("id"))
        return
    payment = Payment.objects.get(pk=payment_id)
    if payment.status == Payment.Status.PENDING:
        # The refund overtook the completion event: the charge was paid, so the purchase
        # is booked first and taken back at once; the completion, when it comes, finds the
        # payment no longer pending and grants nothing.
        payments.payment_mark_paid(
            payment_id=payment_id,
            amount_cents=int(charge.get("amount") or 0),
            currency=str(charge.get("currency") or ""),
            payment_intent_id=str(charge.get("payment_intent") or ""),
            charge_id=str(charge.get("id") or ""),
        )
    payments.payment_refund_apply(
        payment_id=payment_id, amount_refunded_cents=int(charge.get("amount_refunded") or 0)
    )


def _dispute_created(dispute: dict[str, Any]) -> None:
    payment_id = _payment_id(dispute)
    if payment_id is not None:
        payments.payment_dispute_open(payment_id=payment_id)


def _dispute_closed(dispute: dict[str, Any]) -> None:
    payment_id = _payment_id(dispute)
    if payment_id is not None:
        payments.payment_dispute_close(payment_id=payment_id, is_won=dispute.get("status") == "won")


def _recharge_payment(intent: dict[str, Any]) -> Payment | None:
    payment_id = _payment_id(intent)
    payment = Payment.objects.filter(pk=payment_id).first() if payment_id else None
    if payment is None or payment.kind != Payment.Kind.AUTO_RECHARGE:
        return None  # a Checkout's PaymentIntent: its session's events decide
    return payment


def _intent_succeeded(intent: dict[str, Any]) -> None:
    payment = _recharge_payment(intent)
    if payment is None:
        return
    if payments.payment_mark_paid(
        payment_id=payment.pk,
        amount_cents=int(intent.get("amount_received") or intent.get("amount") or 0),
        currency=str(intent.get("currency") or ""),
        payment_intent_id=str(intent.get("id") or ""),
    ):
        AutoRecharge.objects.filter(account_id=payment.account_id).update(
            declines_in_row=0, last_error=""
        )


def _intent_failed(intent: dict[str, Any]) -> None:
    payment = _recharge_payment(intent)
    if payment is None:
        return
    error = intent.get("last_payment_error") or {}
    recharge.recharge_declined(
        payment_id=payment.pk, message=str(error.get("message") or "The card was declined")
    )


HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": _session_paid,
    "checkout.session.async_payment_succeeded": _session_paid,
    "checkout.session.expired": _session_closed(Payment.Status.EXPIRED),
    "checkout.session.async_payment_failed": _session_closed(Payment.Status.FAILED),
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute_created,
    "charge.dispute.closed": _dispute_closed,
    "payment_intent.succeeded": _intent_succeeded,
    "payment_intent.payment_failed": _intent_failed,
}


def stripe_event_handle(*, event: WebhookEvent) -> bool:
    """Store and handle one verified event, exactly once. True if this call handled it,
    False for a redelivery. A failing handler leaves the event stored unprocessed (with
    the error) and re-raises, so that the webhook answers 500 and Stripe retries."""
    try:
        with transaction.atomic():
            StripeEvent.objects.bulk_create(
                [StripeEvent(event_id=event.id, type=event.type, payload=event.payload)],
                ignore_conflicts=True,
            )
            stored = StripeEvent.objects.select_for_update().get(event_id=event.id)
            if stored.processed_at is not None:
                return False
            handler = HANDLERS.get(event.type)
            if handler is not None:
                handler(event.object)
            StripeEvent.objects.filter(pk=stored.pk).update(processed_at=timezone.now(), error="")
            return True
    except Exception as exc:
        log.exception("Stripe event %s (%s) failed; Stripe will retry", event.id, event.type)
        StripeEvent.objects.bulk_create(
            [StripeEvent(event_id=event.id, type=event.type, payload=event.payload)],
            ignore_conflicts=True,
        )
        StripeEvent.objects.filter(event_id=event.id, processed_at__isnull=True).update(
            error=f"{type(exc).__name__}: {exc}"[:300]
        )
        raise
