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
- **A refund or dispute we cannot place yet** (no payment matches its ids, or a dispute
  of a payment not yet paid: Stripe's events may overtake the completion that records
  our ids): while the event is younger than ``BILLING_WEBHOOK_UNMATCHED_RETRY_SECONDS``
  (from its ``created``), it is stored unprocessed and answered 500, so Stripe delivers
  it again; older, it is marked processed with its ``ignored_reason``, logged, answered
  200.
- **Other types**: stored, marked processed, answered 200, no effect.

Payments are found from the object: a session's ``client_reference_id`` / metadata, a
PaymentIntent's or charge's metadata, else the ids we recorded: the ``payment_intent``,
then the charge (a dispute's ``charge``, a charge's id). A refund or dispute records the
ids it carries on its payment where they are missing, so the next event finds it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.models_payments import AutoRecharge, Payment, StripeEvent
from billing.services import disputes, payments, recharge
from billing.stripe_api import WebhookEvent

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], None]


METADATA_KEY = "gateway_payment_id"  # namespaced: the Stripe account may serve other apps
INSTALLATION_KEY = "gateway_installation"  # or other installations of this gateway


def _id_of(value: Any) -> str:
    """A Stripe reference, given as an id or as the expanded object."""
    if isinstance(value, dict):
        value = value.get("id")
    return str(value or "")


def _payment_id(obj: dict[str, Any]) -> int | None:
    """Our Payment named by a Stripe object: our metadata (a session's
    ``client_reference_id`` too), else the Stripe ids we recorded: its PaymentIntent
    first, then its charge (a dispute's ``charge``, a charge's own id). An object whose
    metadata names another installation, or a named Payment whose recorded Stripe ids
    contradict the object, is not ours to change (None)."""
    kind = obj.get("object")
    intent = _id_of(obj.get("id") if kind == "payment_intent" else obj.get("payment_intent"))
    metadata = obj.get("metadata") or {}
    ours = payments.installation_id()
    if metadata.get(INSTALLATION_KEY, ours) != ours:
        return None  # another installation's payment of the same id
    named = metadata.get(METADATA_KEY)
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
    charge = _charge_id(obj)
    for field, value in (("stripe_payment_intent_id", intent), ("stripe_charge_id", charge)):
        if value:
            found = Payment.objects.filter(**{field: value}).values_list("pk", flat=True).first()
            if found is not None:
                return found
    return None


def _charge_id(obj: dict[str, Any]) -> str:
    kind = obj.get("object")
    if kind == "dispute":
        return _id_of(obj.get("charge"))
    if kind == "charge":
        return _id_of(obj.get("id"))
    if kind == "payment_intent":
        return _id_of(obj.get("latest_charge"))
    return ""


def _matched(obj: dict[str, Any], what: str) -> int | None:
    """The Payment a refund or dispute is about, its Stripe ids recorded where missing.
    None when our metadata names a payment that is not there or contradicts the object
    (another installation's, or another app's: never ours to wait for); PaymentNotReady
    when nothing matches (yet)."""
    payment_id = _payment_id(obj)
    if payment_id is None and (obj.get("metadata") or {}).get(METADATA_KEY):
        log.warning("%s %s names a payment that is not ours; ignored", what, obj.get("id"))
        return None
    if payment_id is None:
        raise payments.PaymentNotReady(f"{what} {obj.get('id')} matches no payment")
    payments.payment_ids_record(
        payment_id=payment_id,
        payment_intent_id=_id_of(obj.get("payment_intent")),
        charge_id=_charge_id(obj),
    )
    return payment_id


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
    payment_id = _matched(charge, "refunded charge")
    if payment_id is None:
        return
    payment = Payment.objects.get(pk=payment_id)
    if payment.status == Payment.Status.PENDING:
        # The refund overtook the completion event: the charge was paid, so the purchase
        # is booked first and taken back at once; the completion, when it comes, finds the
        # payment no longer pending and grants nothing.
        payments.payment_mark_paid(
            payment_id=payment.pk,
            amount_cents=int(charge.get("amount") or 0),
            currency=str(charge.get("currency") or ""),
        )
    payments.payment_refund_apply(
        payment_id=payment.pk, amount_refunded_cents=int(charge.get("amount_refunded") or 0)
    )


def _dispute_created(dispute: dict[str, Any]) -> None:
    payment_id = _matched(dispute, "dispute")
    if payment_id is not None:
        disputes.payment_dispute_open(payment_id=payment_id, dispute_id=_id_of(dispute.get("id")))


# ``warning_closed``: an inquiry closed without becoming a chargeback; nothing was taken.
WON_DISPUTE = ("won", "warning_closed")


def _dispute_closed(dispute: dict[str, Any]) -> None:
    payment_id = _matched(dispute, "dispute")
    if payment_id is not None:
        disputes.payment_dispute_close(
            payment_id=payment_id,
            dispute_id=_id_of(dispute.get("id")),
            is_won=dispute.get("status") in WON_DISPUTE,
        )


def _recharge_payment(intent: dict[str, Any]) -> Payment | None:
    payment_id = _payment_id(intent)
    payment = Payment.objects.filter(pk=payment_id).first() if payment_id else None
    if payment is None or payment.kind != Payment.Kind.AUTO_RECHARGE:
        return None  # a Checkout's PaymentIntent: its session's events decide
    return payment


def _intent_succeeded(intent: dict[str, Any]) -> None:
    payment_id = _payment_id(intent)
    if payment_id is not None:  # a Checkout's too: its charge id lets disputes find it
        payments.payment_ids_record(payment_id=payment_id, charge_id=_charge_id(intent))
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


def _is_young(event: WebhookEvent, stored: StripeEvent) -> bool:
    """Within ``BILLING_WEBHOOK_UNMATCHED_RETRY_SECONDS`` of the event's ``created``
    (else of its first delivery)."""
    created = event.payload.get("created")
    if isinstance(created, int) and not isinstance(created, bool):
        born = dt.datetime.fromtimestamp(created, tz=dt.UTC)
    else:
        born = stored.received_at
    age = (timezone.now() - born).total_seconds()
    return age < settings.BILLING_WEBHOOK_UNMATCHED_RETRY_SECONDS


def _stored_unprocessed(event: WebhookEvent, error: str) -> None:
    StripeEvent.objects.bulk_create(
        [StripeEvent(event_id=event.id, type=event.type, payload=event.payload)],
        ignore_conflicts=True,
    )
    StripeEvent.objects.filter(event_id=event.id, processed_at__isnull=True).update(
        error=error[:300]
    )


def stripe_event_handle(*, event: WebhookEvent) -> bool:
    """Store and handle one verified event, exactly once. True if this call handled it
    (or, too old to wait for, ignored it), False for a redelivery. A failing handler, or
    a young one whose payment is not there yet, leaves the event stored unprocessed (with
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
            ignored = ""
            if handler is not None:
                try:
                    with transaction.atomic():
                        handler(event.object)
                except payments.PaymentNotReady as exc:
                    if _is_young(event, stored):
                        raise
                    ignored = f"{exc}; ignored after retries"
                    log.warning("Stripe event %s (%s): %s", event.id, event.type, ignored)
            StripeEvent.objects.filter(pk=stored.pk).update(
                processed_at=timezone.now(), error="", ignored_reason=ignored[:300]
            )
            return True
    except payments.PaymentNotReady as exc:
        log.warning("Stripe event %s (%s): %s; Stripe will retry", event.id, event.type, exc)
        _stored_unprocessed(event, f"not yet: {exc}")
        raise
    except Exception as exc:
        log.exception("Stripe event %s (%s) failed; Stripe will retry", event.id, event.type)
        _stored_unprocessed(event, f"{type(exc).__name__}: {exc}")
        raise
