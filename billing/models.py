"""Credits. Every amount is an integer number of credits: 1,000,000 credits = 1 USD.

Invariants (checked by ``manage.py verify_ledger``):
- ``CreditAccount.balance`` == sum of the account's ``LedgerEntry.amount``, and each entry's
  ``balance_after`` == the sum of its account's entries up to it (in id order);
- ``CreditAccount.held`` == sum of the account's open ``Hold.amount``;
- 0 <= held <= balance;
- ``KeySpend.held`` == sum of the open holds of that key and month.
Balances change only through ``billing.services`` with conditional updates.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class CreditAccount(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="credit_account"
    )
    balance = models.BigIntegerField(default=0)
    held = models.BigIntegerField(default=0)
    # Read with the key on every request (gateway.api.auth), so that neither check costs a query:
    is_suspended = models.BooleanField(
        default=False,
        help_text="Every key answers 403 account_suspended (a refund or dispute took back "
        "credits already spent); cleared by an admin or a won dispute.",
    )
    recharge_below = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="Auto-recharge's threshold in credits while it is on; null: off.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="account_balance_gte_0"),
            models.CheckConstraint(condition=Q(held__gte=0), name="account_held_gte_0"),
            models.CheckConstraint(
                condition=Q(held__lte=F("balance")), name="account_held_lte_balance"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.balance} credits ({self.held} held)"

    @property
    def available(self) -> int:
        return self.balance - self.held


class LedgerEntryQuerySet(models.QuerySet):
    """Bulk updates and deletes would bypass the model's append-only guard; refuse them."""

    def update(self, **kwargs: object) -> int:
        raise ValueError("ledger entries are append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise ValueError("ledger entries are append-only")


class LedgerEntry(models.Model):
    """Append-only: rows are inserted, never updated or deleted."""

    class Kind(models.TextChoices):
        GRANT = "grant"
        PURCHASE = "purchase"
        USAGE = "usage"
        REFUND = "refund"
        ADJUSTMENT = "adjustment"

    # indexed by (account, -created_at) below; a second index on account alone would only
    # cost every insert
    account = models.ForeignKey(
        CreditAccount, on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    amount = models.BigIntegerField(help_text="Signed credits: + adds to the balance.")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    reference = models.CharField(
        max_length=100, blank=True, help_text="Request id, payment id…; unique per kind."
    )
    memo = models.CharField(max_length=200, blank=True)
    balance_after = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = LedgerEntryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "ledger entries"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "reference"],
                condition=~Q(reference=""),
                name="ledger_unique_kind_reference",
            ),
        ]
        indexes = [models.Index(fields=["account", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount:+d} ({self.reference})"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise ValueError("ledger entries are append-only")
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise ValueError("ledger entries are append-only")


class KeySpend(models.Model):
    """A key's spend in one period of its limit (UTC), in credits: a day, a week from Monday
    or a calendar month, as the key's ``limit_reset``. The column keeps its name ``month``."""

    api_key = models.ForeignKey("accounts.ApiKey", on_delete=models.CASCADE, related_name="spends")
    month = models.DateField(help_text="First day (UTC) of the key's period: day, week or month.")
    spent = models.BigIntegerField(default=0)
    held = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_key", "month"], name="keyspend_unique_month"),
            models.CheckConstraint(condition=Q(spent__gte=0), name="keyspend_spent_gte_0"),
            models.CheckConstraint(condition=Q(held__gte=0), name="keyspend_held_gte_0"),
        ]

    def __str__(self) -> str:
        return f"key {self.api_key_id} {self.month}: {self.spent} spent, {self.held} held"


class Hold(models.Model):
    """Credits reserved for one request in flight. Whoever deletes the row (settle, release
    or the sweeper) does its accounting, so a hold is released exactly once.

    Its owner sets ``expires_at``: a request's outlives the request's deadline, a media
    task's lasts as long as the task may run. A stream (``is_streamed``) also checkpoints
    what it has delivered on the row (``checkpoint_at``, ``checkpoint_credits`` and the
    record the sweeper would write, ``checkpoint``): at most 2 s behind what it delivered,
    and at least every ``BILLING_HOLD_STALE_SECONDS / 3`` while it lives. Each checkpoint
    renews the hold; a stream's hold whose last checkpoint (or creation, if none) is older
    than ``BILLING_HOLD_STALE_SECONDS`` belongs to a dead worker. Every other hold is dead
    only once expired."""

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="holds")
    api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    month = models.DateField(null=True, blank=True, help_text="KeySpend period start, if limited.")
    amount = models.BigIntegerField()
    request_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    is_streamed = models.BooleanField(
        default=False, help_text="Its owner checkpoints it: stale without a recent checkpoint."
    )
    checkpoint_at = models.DateTimeField(null=True, blank=True)
    checkpoint_credits = models.BigIntegerField(
        default=0, help_text="Credits the delivered part costs, as of checkpoint_at."
    )
    checkpoint = models.JSONField(
        null=True, blank=True, help_text="The record to write if the request dies."
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="hold_amount_gt_0"),
            # a constraint, not unique=True, which would add a LIKE index nothing uses
            models.UniqueConstraint(fields=["request_id"], name="hold_unique_request_id"),
        ]

    def __str__(self) -> str:
        return f"hold {self.request_id}: {self.amount}"


# Payments live in their own module (packs, payments, Stripe events, auto-recharge, audit).
from billing.models_payments import (  # noqa: E402
    AutoRecharge,
    BillingProfile,
    CreditAdjustment,
    Payment,
    StripeEvent,
    TopUpPack,
)

__all__ = [
    "AutoRecharge",
    "BillingProfile",
    "CreditAccount",
    "CreditAdjustment",
    "Hold",
    "KeySpend",
    "LedgerEntry",
    "Payment",
    "StripeEvent",
    "TopUpPack",
]
