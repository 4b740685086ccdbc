"""What people buy credits with: packs, payments, Stripe's events, auto-recharge, and the
audit of manual adjustments. Re-exported by ``billing.models``.

Money: ``Payment.amount_cents`` is what the customer pays, in the currency's minor unit
(USD cents, as Stripe counts); ``credits`` is what it grants (1,000,000 credits = 1 USD at
the base rate, plus a pack's bonus).

Exactly once: a Payment's status changes only by a conditional update
(``… WHERE status = 'pending'``) or under its row lock, in the same transaction as its
ledger entry, so whatever events arrive, in whatever order and however often, a payment
grants its credits once and takes back at most what it granted. ``StripeEvent`` stores
every delivered event (unique on Stripe's id); it is marked processed in the transaction
that committed its effect.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from config.money import CREDITS_PER_USD


class TopUpPack(models.Model):
    """A pack on sale: ``credits`` is the whole grant, bonus included."""

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    price_usd = models.DecimalField(max_digits=10, decimal_places=2)
    credits = models.BigIntegerField(help_text="The whole grant, bonus included.")
    is_active = models.BooleanField(default=True)
    sort_order = models.IntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "price_usd"]
        constraints = [
            models.CheckConstraint(condition=Q(price_usd__gt=0), name="pack_price_gt_0"),
            models.CheckConstraint(condition=Q(credits__gt=0), name="pack_credits_gt_0"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.price_usd} USD, {self.credits} credits)"

    @property
    def price_cents(self) -> int:
        return int(self.price_usd * 100)

    @property
    def bonus_credits(self) -> int:
        """Credits above the base rate (price × 1,000,000)."""
        return self.credits - int(self.price_usd * CREDITS_PER_USD)


class Payment(models.Model):
    """One purchase: pending → paid | failed | expired, then paid → partially refunded |
    refunded | disputed. ``credits_refunded`` is what refunds took back through the
    ledger; ``shortfall`` what they could not (the balance was spent), which suspends the
    account until an admin clears it."""

    class Status(models.TextChoices):
        PENDING = "pending"
        PAID = "paid"
        PARTIALLY_REFUNDED = "partially_refunded", "partially refunded"
        REFUNDED = "refunded"
        DISPUTED = "disputed"
        EXPIRED = "expired"
        FAILED = "failed"

    class Kind(models.TextChoices):
        CHECKOUT = "checkout"
        AUTO_RECHARGE = "auto_recharge", "auto-recharge"

    account = models.ForeignKey(
        "billing.CreditAccount", on_delete=models.PROTECT, related_name="payments", db_index=False
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.CHECKOUT)
    pack = models.ForeignKey(TopUpPack, null=True, blank=True, on_delete=models.SET_NULL)
    description = models.CharField(max_length=200)
    amount_cents = models.BigIntegerField()
    currency = models.CharField(max_length=3, default="usd")
    credits = models.BigIntegerField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    status_before_dispute = models.CharField(max_length=20, blank=True)
    stripe_session_id = models.CharField(max_length=255, blank=True)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True)
    stripe_charge_id = models.CharField(max_length=255, blank=True)
    amount_refunded_cents = models.BigIntegerField(default=0)
    credits_refunded = models.BigIntegerField(default=0)
    shortfall = models.BigIntegerField(
        default=0, help_text="Credits a refund could not take back (already spent)."
    )
    needs_review = models.BooleanField(default=False)
    review_reason = models.CharField(max_length=300, blank=True)
    failure_message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["account", "-created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_session_id"],
                condition=~Q(stripe_session_id=""),
                name="payment_unique_session",
            ),
            models.UniqueConstraint(
                fields=["stripe_payment_intent_id"],
                condition=~Q(stripe_payment_intent_id=""),
                name="payment_unique_intent",
            ),
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="payment_amount_gt_0"),
            models.CheckConstraint(
                condition=Q(credits_refunded__gte=0)
                & Q(shortfall__gte=0)
                & Q(credits_refunded__lte=models.F("credits")),
                name="payment_refunds_within_credits",
            ),
        ]

    def __str__(self) -> str:
        return f"payment {self.pk}: {self.description} ({self.status})"

    @property
    def amount_usd(self) -> Decimal:
        return Decimal(self.amount_cents) / 100

    @property
    def reference(self) -> str:
        """The ledger reference of its purchase entry (unique per kind)."""
        return f"payment-{self.pk}"


class StripeEvent(models.Model):
    """Every event Stripe delivered, as received. ``processed_at`` is set in the
    transaction that committed the event's effect; an event whose handling failed stays
    unprocessed, so Stripe's retry completes it."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class BillingProfile(models.Model):
    """Per account: its Stripe Customer (created once and reused) and a tier set by an
    admin (blank: reached by lifetime purchases)."""

    account = models.OneToOneField(
        "billing.CreditAccount", on_delete=models.CASCADE, related_name="billing_profile"
    )
    stripe_customer_id = models.CharField(max_length=255, blank=True)
    tier = models.CharField(max_length=20, blank=True, help_text="Blank: by lifetime purchases.")

    def __str__(self) -> str:
        return f"billing profile of account {self.account_id}"


class AutoRecharge(models.Model):
    """Auto-recharge of one account: when a settle leaves ``available`` under
    ``threshold`` credits, buy ``pack`` with the saved card. ``in_flight_since`` is the
    claim of the one attempt running (set by a conditional update); ``last_attempt_at``
    spaces attempts by ``BILLING_RECHARGE_MIN_INTERVAL_SECONDS``."""

    account = models.OneToOneField(
        "billing.CreditAccount", on_delete=models.CASCADE, related_name="auto_recharge"
    )
    is_enabled = models.BooleanField(default=False)
    threshold = models.BigIntegerField(default=1_000_000, help_text="Credits.")
    pack = models.ForeignKey(TopUpPack, null=True, blank=True, on_delete=models.PROTECT)
    payment_method_id = models.CharField(max_length=255, blank=True)
    declines_in_row = models.IntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    in_flight_since = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        state = "on" if self.is_enabled else "off"
        return f"auto-recharge of account {self.account_id}: {state}"


class CreditAdjustment(models.Model):
    """Audit row of a manual adjustment: who, why, and the ledger entry it wrote (same
    transaction)."""

    account = models.ForeignKey(
        "billing.CreditAccount", on_delete=models.PROTECT, related_name="adjustments"
    )
    staff_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    amount = models.BigIntegerField(help_text="Signed credits.")
    reason = models.CharField(max_length=200)
    ledger_entry = models.OneToOneField(
        "billing.LedgerEntry", on_delete=models.PROTECT, related_name="adjustment"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"adjustment {self.amount:+d} by {self.staff_user_id}: {self.reason}"
