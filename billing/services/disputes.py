"""Disputes and suspensions: what keeps an account suspended, and what lifts it.

An account is suspended while something justifies it:

- a payment's refund shortfall that no admin has cleared (``shortfall`` above
  ``shortfall_cleared``), or
- a dispute (``PaymentDispute``) that is open or lost and that no admin has cleared.

A won dispute lifts the suspension when nothing else justifies it; an admin's clearing
lifts it whatever remains, and records what it covered (``SuspensionClearance``). A
payment is disputed while one of its disputes is open or lost; once none is, its status
follows its refunds (refunded, partially refunded or paid), including any refund that
landed while it was disputed.

Locks: the payment's row, then the account's (the order ``payment_refund_apply`` keeps),
so a dispute, a refund and a clearing for one account serialise on the account row, and
each decides from what the others committed.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User
from billing.models import CreditAccount
from billing.models_payments import Payment, PaymentDispute, SuspensionClearance
from billing.services.payments import PaymentNotReady

log = logging.getLogger(__name__)

# A payment's charge went through: it can be disputed (and its status restored after).
WAS_PAID = (
    Payment.Status.PAID,
    Payment.Status.PARTIALLY_REFUNDED,
    Payment.Status.REFUNDED,
    Payment.Status.DISPUTED,
)
STANDING = (PaymentDispute.Status.OPEN, PaymentDispute.Status.LOST)


def status_after_refunds(payment: Payment) -> str:
    """The status a paid, undisputed payment has from its refunds alone."""
    if payment.amount_refunded_cents >= payment.amount_cents:
        return Payment.Status.REFUNDED
    if payment.amount_refunded_cents > 0:
        return Payment.Status.PARTIALLY_REFUNDED
    return Payment.Status.PAID


def suspension_is_justified(*, account_id: int) -> bool:
    """An uncleared shortfall or an uncleared open or lost dispute on the account."""
    owed = Payment.objects.filter(account_id=account_id, shortfall__gt=F("shortfall_cleared"))
    disputed = PaymentDispute.objects.filter(
        payment__account_id=account_id, status__in=STANDING, clearance__isnull=True
    )
    return owed.exists() or disputed.exists()


def _disputable(payment: Payment, dispute_id: str) -> bool:
    """Whether the dispute can act on the payment now; raises PaymentNotReady for one
    still pending (its completion event is late: Stripe retries the dispute's event)."""
    if payment.status == Payment.Status.PENDING:
        raise PaymentNotReady(f"dispute {dispute_id}: payment {payment.pk} is not yet paid")
    if payment.status not in WAS_PAID:
        log.warning("dispute %s of payment %s (%s) ignored", dispute_id, payment.pk, payment.status)
        return False
    return True


def _dispute_row(payment: Payment, dispute_id: str) -> tuple[PaymentDispute | None, bool]:
    """(the dispute's row, whether it was just made); None if the id is another
    payment's. The caller holds the payment's row lock, so two events about one dispute
    (whose charge is one payment's) cannot both make it."""
    dispute, made = PaymentDispute.objects.get_or_create(
        stripe_dispute_id=dispute_id, defaults={"payment": payment}
    )
    if dispute.payment_id != payment.pk:
        log.warning(
            "dispute %s is payment %s's, not %s's", dispute_id, dispute.payment_id, payment.pk
        )
        return None, False
    return dispute, made


def _suspend(payment: Payment) -> None:
    Payment.objects.filter(pk=payment.pk).update(status=Payment.Status.DISPUTED)
    CreditAccount.objects.filter(pk=payment.account_id).update(is_suspended=True)


@transaction.atomic
def payment_dispute_open(*, payment_id: int, dispute_id: str) -> bool:
    """A new dispute: the payment is disputed and its account suspended. False for a
    dispute already known (a redelivery, or its closing came first)."""
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    if not _disputable(payment, dispute_id):
        return False
    dispute, made = _dispute_row(payment, dispute_id)
    if dispute is None or not made:
        return False
    _suspend(payment)
    return True


@transaction.atomic
def payment_dispute_close(*, payment_id: int, dispute_id: str, is_won: bool) -> bool:
    """A dispute closes, once. Won: when no other dispute of the payment is open or lost,
    its status follows its refunds again; the suspension is lifted when nothing justifies
    it any more. Lost: the payment stays disputed and the account suspended (a lost
    dispute whose opening never arrived suspends it now). False for one already closed."""
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    if not _disputable(payment, dispute_id):
        return False
    dispute, made = _dispute_row(payment, dispute_id)
    if dispute is None or dispute.status != PaymentDispute.Status.OPEN:
        return False
    status = PaymentDispute.Status.WON if is_won else PaymentDispute.Status.LOST
    PaymentDispute.objects.filter(pk=dispute.pk).update(status=status, closed_at=timezone.now())
    if not is_won:
        if made:
            _suspend(payment)
        return True
    if not payment.disputes.filter(status__in=STANDING).exists():
        Payment.objects.filter(pk=payment.pk).update(status=status_after_refunds(payment))
    account = CreditAccount.objects.select_for_update().get(pk=payment.account_id)
    if account.is_suspended and not suspension_is_justified(account_id=account.pk):
        CreditAccount.objects.filter(pk=account.pk).update(is_suspended=False)
    return True


@transaction.atomic
def account_suspension_clear(*, account_id: int, staff_user: User) -> SuspensionClearance:
    """An admin lifts a suspension: the account's keys answer again. What justified it
    is marked cleared, by this audit row: each shortfall in full (the credits stay on
    their payments as the record of what was owed) and each open or lost dispute. A
    later refund's new shortfall, or a new dispute, counts again."""
    disputed = PaymentDispute.objects.filter(
        payment__account_id=account_id, status__in=STANDING, clearance__isnull=True
    ).values("payment_id")
    covered = list(
        Payment.objects.select_for_update()
        .filter(account_id=account_id)
        .filter(Q(shortfall__gt=F("shortfall_cleared")) | Q(pk__in=disputed))
        .order_by("pk")
        .values_list("pk", "shortfall", "shortfall_cleared")
    )
    account = CreditAccount.objects.select_for_update().get(pk=account_id)
    clearance = SuspensionClearance.objects.create(
        account=account,
        staff_user=staff_user,
        shortfall_cleared=sum(shortfall - cleared for _, shortfall, cleared in covered),
    )
    pks = [pk for pk, _, _ in covered]
    Payment.objects.filter(pk__in=pks).update(shortfall_cleared=F("shortfall"))
    PaymentDispute.objects.filter(
        payment_id__in=pks, status__in=STANDING, clearance__isnull=True
    ).update(clearance=clearance)
    CreditAccount.objects.filter(pk=account.pk).update(is_suspended=False)
    return clearance
