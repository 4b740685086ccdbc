"""Payments: buying credits, and every change a payment goes through afterwards.

Each transition is one short transaction: a conditional update of the Payment (or its row
lock, then the account's: always in that order) with the ledger entry it implies, so a
payment grants its credits exactly once and refunds take back, cumulatively, no more than
it granted. No transaction is open while Stripe is called. Credits come only from Stripe's
webhook (``billing.services.webhooks``), never from the page the customer returns to.

Amounts: ``*_cents`` in USD cents; credits are integers (1,000,000 credits = 1 USD).
"""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from billing import stripe_api
from billing.models import CreditAccount, LedgerEntry
from billing.models_payments import (
    CREDITS_PER_USD,
    AutoRecharge,
    BillingProfile,
    CreditAdjustment,
    Installation,
    Payment,
    TopUpPack,
)
from config.errors import DomainError

log = logging.getLogger(__name__)

REFUNDABLE = (Payment.Status.PAID, Payment.Status.PARTIALLY_REFUNDED, Payment.Status.DISPUTED)


class PaymentNotReady(Exception):
    """Stripe tells of a payment our records do not show yet (no payment matches its ids,
    or it is not yet paid): the webhook answers 500 while the event is young, so Stripe
    delivers it again once the completion has landed."""


def installation_id() -> str:
    """This installation's id: made once, on first use, and kept in the database (one
    row; two processes making it at once keep the first), so it survives restarts and
    differs between installations that share a Stripe account."""
    found = Installation.objects.values_list("installation_id", flat=True).first()
    if found:
        return found
    try:
        with transaction.atomic():
            Installation.objects.create(pk=1, installation_id=uuid.uuid4().hex)
    except IntegrityError:
        pass  # another process made it first
    return Installation.objects.values_list("installation_id", flat=True).get(pk=1)


def stripe_idempotency_key(purpose: str) -> str:
    """The ``Idempotency-Key`` for one Stripe call: ``purpose`` names what it is for
    (``checkout-payment-<pk>``), so a retry of that call reuses the key, and the
    installation's id keeps two installations on one Stripe account apart."""
    return f"gw-{installation_id()}-{purpose}"


def account_for(user: User) -> CreditAccount:
    account, _ = CreditAccount.objects.get_or_create(user=user)
    return account


def _offer(*, pack_slug: str, amount_usd: str) -> tuple[TopUpPack | None, int, int, str]:
    """(pack, amount in cents, credits, description) of what the form asks to buy."""
    if pack_slug:
        pack = TopUpPack.objects.filter(slug=pack_slug, is_active=True).first()
        if pack is None:
            raise DomainError("invalid_parameter", "No such pack on sale", param="pack")
        return pack, pack.price_cents, pack.credits, pack.name
    low, high = settings.BILLING_TOPUP_MIN_USD, settings.BILLING_TOPUP_MAX_USD
    try:
        usd = Decimal(amount_usd.strip())
    except (InvalidOperation, AttributeError):
        usd = Decimal(-1)
    if usd != usd.to_integral_value() or not low <= usd <= high:
        raise DomainError(
            "invalid_parameter",
            f"Choose a pack or a whole number of USD from {low} to {high}",
            param="amount_usd",
        )
    dollars = int(usd)
    return None, dollars * 100, dollars * CREDITS_PER_USD, f"{dollars} USD top-up"


def stripe_customer_ensure(*, account: CreditAccount, user: User) -> str:
    """The account's Stripe Customer, created once: the idempotency key is the user's, so
    two checkouts started at once get the same customer, and the first to save it wins."""
    profile, _ = BillingProfile.objects.get_or_create(account=account)
    if profile.stripe_customer_id:
        return profile.stripe_customer_id
    customer_id = stripe_api.customer_create(
        email=user.email,
        user_id=user.pk,
        idempotency_key=stripe_idempotency_key(f"customer-user-{user.pk}"),
    )
    BillingProfile.objects.filter(pk=profile.pk, stripe_customer_id="").update(
        stripe_customer_id=customer_id
    )
    return BillingProfile.objects.values_list("stripe_customer_id", flat=True).get(pk=profile.pk)


def payment_checkout_start(
    *,
    user: User,
    pack_slug: str = "",
    amount_usd: str = "",
    save_card: bool = False,
    success_url: str,
    cancel_url: str,
) -> str:
    """Create a pending Payment and its Checkout Session; returns the session's URL.

    ``save_card``: the customer opted in to auto-recharge, so the card is kept for
    off-session charges. ``{PAYMENT}`` in ``success_url`` becomes the Payment's id, so the
    return page can wait for it. The session's idempotency key is the Payment's, so a retried
    call never opens a second session for one payment."""
    if not stripe_api.is_configured():
        raise stripe_api.PaymentsNotConfigured()
    pack, cents, credits, description = _offer(pack_slug=pack_slug, amount_usd=amount_usd)
    account = account_for(user)
    customer_id = stripe_customer_ensure(account=account, user=user)
    payment = Payment.objects.create(
        account=account,
        pack=pack,
        description=description,
        amount_cents=cents,
        currency="usd",
        credits=credits,
    )
    try:
        session = stripe_api.checkout_session_create(
            payment_id=payment.pk,
            customer_id=customer_id,
            amount_cents=cents,
            currency="usd",
            product_name=f"{description}: {credits:,} credits",
            success_url=success_url.replace("{PAYMENT}", str(payment.pk)),
            cancel_url=cancel_url,
            save_card=save_card,
            idempotency_key=stripe_idempotency_key(f"checkout-payment-{payment.pk}"),
            installation_id=installation_id(),
        )
    except stripe_api.PaymentError as exc:
        Payment.objects.filter(pk=payment.pk, status=Payment.Status.PENDING).update(
            status=Payment.Status.FAILED, failure_message=exc.message[:300]
        )
        raise
    Payment.objects.filter(pk=payment.pk).update(stripe_session_id=session.id)
    return session.url


@transaction.atomic
def payment_mark_paid(
    *,
    payment_id: int,
    amount_cents: int,
    currency: str,
    payment_intent_id: str = "",
    charge_id: str = "",
) -> bool:
    """pending → paid with exactly one ``purchase`` ledger entry, in one transaction. The
    amount and currency Stripe reports must equal the Payment's: a mismatch grants
    nothing and flags the Payment for an admin. False when nothing was granted (already
    paid or closed, or a mismatch)."""
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        return False
    if amount_cents != payment.amount_cents or currency.lower() != payment.currency:
        log.error(
            "payment %s: Stripe reports %s %s, expected %s %s; not granted",
            payment_id,
            amount_cents,
            currency,
            payment.amount_cents,
            payment.currency,
        )
        Payment.objects.filter(pk=payment_id).update(
            needs_review=True,
            review_reason=(
                f"Stripe reported {amount_cents} {currency}, expected "
                f"{payment.amount_cents} {payment.currency}"
            )[:300],
        )
        return False
    ids = {"stripe_payment_intent_id": payment_intent_id} if payment_intent_id else {}
    if charge_id:
        ids["stripe_charge_id"] = charge_id
    won = Payment.objects.filter(pk=payment_id, status=Payment.Status.PENDING).update(
        status=Payment.Status.PAID, paid_at=timezone.now(), **ids
    )
    if not won:
        return False
    _ledger_append(
        account_id=payment.account_id,
        amount=payment.credits,
        kind=LedgerEntry.Kind.PURCHASE,
        reference=payment.reference,
        memo=payment.description,
    )
    return True


def payment_mark_closed(*, payment_id: int, status: str, message: str = "") -> bool:
    """pending → expired or failed; False if it was no longer pending."""
    return bool(
        Payment.objects.filter(pk=payment_id, status=Payment.Status.PENDING).update(
            status=status, failure_message=message[:300]
        )
    )


def payment_ids_record(
    *, payment_id: int, payment_intent_id: str = "", charge_id: str = ""
) -> None:
    """Remember Stripe's ids of a payment where none is recorded yet, so later events (a
    refund, a dispute naming only its charge) find it."""
    if payment_intent_id:
        Payment.objects.filter(pk=payment_id, stripe_payment_intent_id="").update(
            stripe_payment_intent_id=payment_intent_id
        )
    if charge_id:
        Payment.objects.filter(pk=payment_id, stripe_charge_id="").update(
            stripe_charge_id=charge_id
        )


def _ledger_append(
    *, account_id: int, amount: int, kind: str, reference: str, memo: str
) -> LedgerEntry:
    """Add ``amount`` (signed) to the balance and append its entry; the caller's
    transaction holds the account's row lock from this update on."""
    CreditAccount.objects.filter(pk=account_id).update(balance=F("balance") + amount)
    balance = CreditAccount.objects.values_list("balance", flat=True).get(pk=account_id)
    return LedgerEntry.objects.create(
        account_id=account_id,
        amount=amount,
        kind=kind,
        reference=reference,
        memo=memo[:200],
        balance_after=balance,
    )


@transaction.atomic
def payment_refund_apply(*, payment_id: int, amount_refunded_cents: int) -> int:
    """Take back credits for Stripe's cumulative ``amount_refunded`` on the payment's
    charge: in all ``credits × amount_refunded / amount``, so a second partial refund takes
    only its new part. Never below zero: what the balance cannot give (``available``) is
    recorded as the payment's shortfall and suspends the account. Returns the credits
    taken back now (0 for a refund already applied)."""
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    refunded = min(amount_refunded_cents, payment.amount_cents)
    if payment.status not in REFUNDABLE or refunded <= payment.amount_refunded_cents:
        return 0
    due_total = payment.credits * refunded // payment.amount_cents
    due_now = due_total - payment.credits_refunded - payment.shortfall
    account = CreditAccount.objects.select_for_update().get(pk=payment.account_id)
    taken = max(0, min(due_now, account.balance - account.held))
    shortfall = due_now - taken
    if taken:
        _ledger_append(
            account_id=account.pk,
            amount=-taken,
            kind=LedgerEntry.Kind.REFUND,
            reference=f"refund-{payment.pk}-{refunded}",
            memo=f"refund of {payment.description}",
        )
    status = payment.status
    if status != Payment.Status.DISPUTED:
        full = refunded >= payment.amount_cents
        status = Payment.Status.REFUNDED if full else Payment.Status.PARTIALLY_REFUNDED
    Payment.objects.filter(pk=payment.pk).update(
        amount_refunded_cents=refunded,
        credits_refunded=F("credits_refunded") + taken,
        shortfall=F("shortfall") + shortfall,
        status=status,
    )
    if shortfall:
        log.warning(
            "payment %s: refund short by %s credits; account suspended", payment.pk, shortfall
        )
        CreditAccount.objects.filter(pk=account.pk).update(is_suspended=True)
    return taken


@transaction.atomic
def credits_adjust(
    *, account_id: int, staff_user: User, amount: int, reason: str, reference: str = ""
) -> LedgerEntry:
    """A manual adjustment (signed credits) with its audit row naming the staff user.
    Taking away never goes below what is available. A ``reference`` makes it idempotent:
    the same one again raises IntegrityError and changes nothing."""
    if not reason.strip():
        raise DomainError("invalid_parameter", "An adjustment needs a reason", param="reason")
    account = CreditAccount.objects.select_for_update().get(pk=account_id)
    if amount < 0 and account.balance - account.held < -amount:
        raise DomainError(
            "insufficient_credits", "Cannot take away more than the available credits"
        )
    entry = _ledger_append(
        account_id=account_id,
        amount=amount,
        kind=LedgerEntry.Kind.ADJUSTMENT,
        reference=reference[:100],
        memo=reason,
    )
    CreditAdjustment.objects.create(
        account_id=account_id,
        staff_user=staff_user,
        amount=amount,
        reason=reason[:200],
        ledger_entry=entry,
    )
    return entry


def auto_recharge_update(
    *, account: CreditAccount, is_enabled: bool, threshold: int, pack_slug: str
) -> AutoRecharge:
    """Save the account's auto-recharge settings; ``CreditAccount.recharge_below`` mirrors
    the threshold while it is on, so the settle path can decide without a query."""
    pack = TopUpPack.objects.filter(slug=pack_slug, is_active=True).first()
    if is_enabled and pack is None:
        raise DomainError("invalid_parameter", "Choose a pack to recharge with", param="pack")
    if threshold < 0:
        raise DomainError("invalid_parameter", "The threshold is not negative", param="threshold")
    with transaction.atomic():
        recharge, _ = AutoRecharge.objects.get_or_create(account=account)
        recharge.is_enabled = is_enabled
        recharge.threshold = threshold
        recharge.pack = pack
        if is_enabled:
            recharge.declines_in_row = 0
        recharge.save()
        CreditAccount.objects.filter(pk=account.pk).update(
            recharge_below=threshold if is_enabled else None
        )
    return recharge
