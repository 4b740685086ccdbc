"""Auto-recharge: when a billed request leaves an account's available credits under its
threshold, buy its pack with the saved card, off-session.

- The settle path pays nothing for this while auto-recharge is off: it only reads
  ``CreditAccount.recharge_below``, loaded with the key (None: off).
- At most one attempt runs per account (the ``in_flight_since`` claim, a conditional
  update whose row count decides) and at most one starts per
  ``BILLING_RECHARGE_MIN_INTERVAL_SECONDS`` (``last_attempt_at``, in the same update).
- Each attempt is one Payment (kind ``auto_recharge``) and one PaymentIntent, whose
  idempotency key is the Payment's. The credits come from the ``payment_intent.succeeded``
  webhook, never from the call's answer.
- A decline fails the Payment and counts; ``BILLING_RECHARGE_MAX_DECLINES`` in a row turn
  auto-recharge off. A success resets the count. Any other failure of the call leaves the
  Payment pending (Stripe may have charged the card): the webhook decides.
- No attempt starts while an earlier one awaits its webhook (``PENDING_STALE`` at most), so
  a late or lost webhook cannot make the card pay twice.
- Each attempt checks again, once it holds the claim, that the account's tier still offers
  auto-recharge and that its pack is still on sale (both may have changed since it was
  turned on: a refund lowers the tier, an admin retires a pack). If not, no PaymentIntent:
  auto-recharge is turned off and ``last_error`` says why (the credits page shows it).
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from billing import stripe_api
from billing.models import CreditAccount
from billing.models_payments import AutoRecharge, BillingProfile, Payment
from billing.payment_selectors import account_tier
from billing.services import payments

log = logging.getLogger(__name__)

# A claim older than this belongs to a worker that died mid-attempt.
CLAIM_STALE = dt.timedelta(minutes=10)
# A pending auto-recharge older than this no longer holds back the next one.
PENDING_STALE = dt.timedelta(hours=1)

_enqueued: dict[int, float] = {}


def recharge_check(*, account: CreditAccount, charged: int) -> bool:
    """After a settle: queue an attempt if auto-recharge is on and ``account`` (as loaded
    with the key, before this request) less ``charged`` is under its threshold. No query;
    the task checks again on fresh rows. True if an attempt was queued."""
    below = account.recharge_below
    if below is None or account.balance - account.held - charged >= below:
        return False
    now = time.monotonic()
    # one queued task per account and process per few seconds is plenty: the claim decides
    if now - _enqueued.get(account.pk, -1e9) < 5.0:
        return False
    _enqueued[account.pk] = now
    from billing.tasks import auto_recharge  # the task module imports this one

    account_id = account.pk
    # robust: the request is already billed; a broker that cannot take the task must not
    # turn its answer into an error (the next settle under the threshold queues it again)
    transaction.on_commit(lambda: auto_recharge.delay(account_id), robust=True)
    return True


def _awaiting_webhook(account_id: int) -> bool:
    """An earlier attempt's PaymentIntent has no answer from Stripe's webhook yet (or its
    call's outcome is unknown): charging again could take a second payment before the
    first is credited. Waits at most ``PENDING_STALE``."""
    return Payment.objects.filter(
        account_id=account_id,
        kind=Payment.Kind.AUTO_RECHARGE,
        status=Payment.Status.PENDING,
        created_at__gt=timezone.now() - PENDING_STALE,
    ).exists()


def _claim(account_id: int) -> bool:
    now = timezone.now()
    interval = dt.timedelta(seconds=settings.BILLING_RECHARGE_MIN_INTERVAL_SECONDS)
    return bool(
        AutoRecharge.objects.filter(account_id=account_id, is_enabled=True, pack__isnull=False)
        .filter(Q(in_flight_since__isnull=True) | Q(in_flight_since__lt=now - CLAIM_STALE))
        .filter(Q(last_attempt_at__isnull=True) | Q(last_attempt_at__lte=now - interval))
        .update(in_flight_since=now, last_attempt_at=now)
    )


def recharge_attempt(*, account_id: int) -> str:
    """One auto-recharge attempt for the account, if it is due. Returns what happened:
    ``not_needed``, ``skipped`` (another attempt runs, or one ran too recently),
    ``no_card``, ``not_allowed`` (the tier no longer offers auto-recharge, or the pack is
    off sale: turned off), ``charged`` (the PaymentIntent succeeded; the webhook grants),
    ``declined`` or ``error``."""
    balance, held, below, suspended = CreditAccount.objects.values_list(
        "balance", "held", "recharge_below", "is_suspended"
    ).get(pk=account_id)
    if below is None or suspended or balance - held >= below:
        return "not_needed"
    if _awaiting_webhook(account_id) or not _claim(account_id):
        return "skipped"
    try:
        return _charge(account_id)
    finally:
        AutoRecharge.objects.filter(account_id=account_id).update(in_flight_since=None)


def _refusal(account_id: int, recharge: AutoRecharge) -> str:
    """Why this account may not be charged now (empty: it may): its tier no longer offers
    auto-recharge, or its pack is no longer on sale."""
    tier = account_tier(account_id=account_id)
    if not tier.offers_auto_recharge:
        return (
            f"Auto-recharge is off: the {tier.name} tier does not offer it "
            "(it comes with the Builder tier)"
        )
    pack = recharge.pack
    if pack is not None and not pack.is_active:
        return (
            f"Auto-recharge is off: the pack {pack.name} is no longer on sale; "
            "choose another pack to turn it on again"
        )
    return ""


@transaction.atomic
def recharge_turn_off(*, account_id: int, reason: str) -> None:
    """Auto-recharge of the account off, with ``reason`` kept for the credits page; the
    settle path stops queueing attempts (``recharge_below`` cleared in the same
    transaction)."""
    AutoRecharge.objects.filter(account_id=account_id).update(
        is_enabled=False, last_error=reason[:300]
    )
    CreditAccount.objects.filter(pk=account_id).update(recharge_below=None)
    log.warning("auto-recharge of account %s off: %s", account_id, reason)


def _charge(account_id: int) -> str:
    recharge = AutoRecharge.objects.select_related("pack").get(account_id=account_id)
    refusal = _refusal(account_id, recharge)
    if refusal:
        recharge_turn_off(account_id=account_id, reason=refusal)
        return "not_allowed"
    pack = recharge.pack
    customer_id = (
        BillingProfile.objects.filter(account_id=account_id)
        .values_list("stripe_customer_id", flat=True)
        .first()
    )
    try:
        card = recharge.payment_method_id or (
            stripe_api.customer_card(customer_id=customer_id) if customer_id else None
        )
    except stripe_api.PaymentError as exc:
        AutoRecharge.objects.filter(pk=recharge.pk).update(last_error=exc.message[:300])
        return "error"
    if not card or pack is None:
        AutoRecharge.objects.filter(pk=recharge.pk).update(
            last_error="No saved card: buy credits once with auto-recharge on to save one"
        )
        return "no_card"
    if not recharge.payment_method_id:
        AutoRecharge.objects.filter(pk=recharge.pk).update(payment_method_id=card)
    payment = Payment.objects.create(
        account_id=account_id,
        kind=Payment.Kind.AUTO_RECHARGE,
        pack=pack,
        description=f"Auto-recharge: {pack.name}",
        amount_cents=pack.price_cents,
        currency="usd",
        credits=pack.credits,
    )
    try:
        intent = stripe_api.payment_intent_charge_saved_card(
            payment_id=payment.pk,
            customer_id=str(customer_id),
            payment_method_id=card,
            amount_cents=payment.amount_cents,
            currency="usd",
            idempotency_key=payments.stripe_idempotency_key(f"recharge-payment-{payment.pk}"),
            installation_id=payments.installation_id(),
        )
    except stripe_api.CardDeclined as exc:
        payments.payment_ids_record(payment_id=payment.pk, payment_intent_id=exc.payment_intent_id)
        recharge_declined(payment_id=payment.pk, message=exc.message)
        return "declined"
    except stripe_api.PaymentError as exc:
        # Not a decline: a timeout, a lost connection or a server error may come after
        # Stripe charged the card. The Payment stays pending and the webhook decides
        # (payment_intent.succeeded grants, payment_failed fails it).
        AutoRecharge.objects.filter(pk=recharge.pk).update(
            last_error=f"Awaiting Stripe's answer: {exc.message}"[:300]
        )
        return "error"
    payments.payment_ids_record(payment_id=payment.pk, payment_intent_id=intent.id)
    return "charged"


@transaction.atomic
def recharge_declined(*, payment_id: int, message: str) -> bool:
    """A declined auto-recharge: the Payment fails and the decline counts, once however
    many times it is reported (the call's answer, then the webhook); the last allowed
    decline turns auto-recharge off. False if it was already recorded."""
    payment = Payment.objects.get(pk=payment_id)
    if not payments.payment_mark_closed(
        payment_id=payment_id, status=Payment.Status.FAILED, message=message
    ):
        return False
    recharge = AutoRecharge.objects.select_for_update().get(account_id=payment.account_id)
    declines = recharge.declines_in_row + 1
    turn_off = declines >= settings.BILLING_RECHARGE_MAX_DECLINES
    AutoRecharge.objects.filter(pk=recharge.pk).update(
        declines_in_row=F("declines_in_row") + 1,
        last_error=f"Card declined: {message}"[:300],
        is_enabled=recharge.is_enabled and not turn_off,
    )
    if turn_off:
        log.warning(
            "auto-recharge of account %s off after %s declines", payment.account_id, declines
        )
        CreditAccount.objects.filter(pk=payment.account_id).update(recharge_below=None)
    return True
