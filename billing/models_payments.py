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
    account until an admin clears it; ``shortfall_cleared`` is the part of it an admin
    cleared (``SuspensionClearance`` says who and when), so a later refund's new shortfall
    still counts. A payment is disputed while one of its ``PaymentDispute`` rows is open
    or lost; once none is, its status follows its refunds again."""

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
    stripe_session_id = models.CharField(max_length=255, blank=True)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True)
    stripe_charge_id = models.CharField(max_length=255, blank=True)
    amount_refunded_cents = models.BigIntegerField(default=0)
    credits_refunded = models.BigIntegerField(default=0)
    shortfall = models.BigIntegerField(
        default=0, help_text="Credits a refund could not take back (already spent)."
    )
    shortfall_cleared = models.BigIntegerField(
        default=0, help_text="Credits of the shortfall an admin cleared."
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
            models.CheckConstraint(
                condition=Q(shortfall_cleared__gte=0)
                & Q(shortfall_cleared__lte=models.F("shortfall")),
                name="payment_shortfall_cleared_within_shortfall",
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


class PaymentDispute(models.Model):
    """One Stripe dispute of a payment's charge (unique on Stripe's id, so a redelivered
    or reordered event finds it). Open or lost, it keeps its payment disputed and
    justifies the account's suspension until won or ``clearance`` (an admin's) says
    otherwise."""

    class Status(models.TextChoices):
        OPEN = "open"
        WON = "won"
        LOST = "lost"

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="disputes")
    stripe_dispute_id = models.CharField(max_length=255, unique=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    clearance = models.ForeignKey(
        "billing.SuspensionClearance",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="disputes",
    )
    opened_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"dispute {self.stripe_dispute_id} of payment {self.payment_id}: {self.status}"


class SuspensionClearance(models.Model):
    """Audit row of an admin clearing a suspension: who, when, and how many credits of
    shortfall it cleared (the payments' ``shortfall_cleared`` and the disputes'
    ``clearance`` record what it covered)."""

    account = models.ForeignKey(
        "billing.CreditAccount", on_delete=models.PROTECT, related_name="clearances"
    )
    staff_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    shortfall_cleared = models.BigIntegerField(default=0, help_text="Credits.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"suspension of account {self.account_id} cleared by {self.staff_user_id}"


class Installation(models.Model):
    """This installation's id, made once (one row): it namespaces the idempotency keys
    sent to Stripe, so two installations sharing one Stripe account never collide."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    installation_id = models.CharField(max_length=32, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"installation {self.installation_id}"


class StripeEvent(models.Model):
    """Every event Stripe delivered, as received. ``processed_at`` is set in the
    transaction that committed the event's effect; an event whose handling failed stays
    unprocessed, so Stripe's retry completes it. ``ignored_reason``: processed with no
    effect (a refund or dispute that matched no payment of ours until it grew too old)."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    ignored_reason = models.CharField(max_length=300, blank=True)

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
