"""Reads about credits bought and spent: the summary ``GET /v1/credits`` answers, the
packs on sale, an account's payments and ledger, its tier, and the payments' half of
``verify_ledger``. Amounts in credits (1,000,000 credits = 1 USD) unless named ``_usd``
or ``_cents``."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce

from billing.models import CreditAccount, LedgerEntry
from billing.models_payments import BillingProfile, Payment, TopUpPack
from billing.selectors import sentences_capped
from billing.tiers import Tier, tier_get, tier_key_check, tiers_all
from config.admin_format import usd_text

# a payment that was paid at some point (its purchase entry exists)
WAS_PAID = (
    Payment.Status.PAID,
    Payment.Status.PARTIALLY_REFUNDED,
    Payment.Status.REFUNDED,
    Payment.Status.DISPUTED,
)


@dataclass(frozen=True, slots=True)
class CreditsSummary:
    """``granted``: every credit ever added (purchases with their bonus, grants,
    adjustments) less refunds; ``used``: every credit charged for usage."""

    balance: int
    held: int
    granted: int
    used: int

    @property
    def available(self) -> int:
        return self.balance - self.held


def credits_summary(*, account: CreditAccount) -> CreditsSummary:
    """One aggregate over the account's ledger (its index on account leads)."""
    totals = LedgerEntry.objects.filter(account_id=account.pk).aggregate(
        used=Coalesce(Sum("amount", filter=Q(kind=LedgerEntry.Kind.USAGE)), 0),
        granted=Coalesce(Sum("amount", filter=~Q(kind=LedgerEntry.Kind.USAGE)), 0),
    )
    return CreditsSummary(
        balance=account.balance,
        held=account.held,
        granted=int(totals["granted"]),
        used=-int(totals["used"]),
    )


def packs_on_sale() -> list[TopUpPack]:
    return list(TopUpPack.objects.filter(is_active=True).order_by("sort_order", "price_usd"))


def payments_of(*, account_id: int, limit: int = 20) -> list[Payment]:
    return list(Payment.objects.filter(account_id=account_id).order_by("-id")[:limit])


def ledger_page(*, account_id: int, page: int | str | None, per_page: int = 20) -> Page:
    entries = LedgerEntry.objects.filter(account_id=account_id).order_by("-id")
    return Paginator(entries, per_page).get_page(page)


def purchases_usd(*, account_id: int) -> int:
    """Lifetime purchases in whole USD, net of refunds."""
    cents = Payment.objects.filter(account_id=account_id, status__in=WAS_PAID).aggregate(
        net=Coalesce(Sum(F("amount_cents") - F("amount_refunded_cents")), 0)
    )["net"]
    return int(cents) // 100


def account_tier(*, account_id: int) -> Tier:
    override = (
        BillingProfile.objects.filter(account_id=account_id).values_list("tier", flat=True).first()
    )
    return tier_get(purchases_usd=purchases_usd(account_id=account_id), override=override or "")


def payment_breaches(*, limit: int = 100) -> list[str]:
    """Every breach of the payments' invariants, as sentences:

    - a paid payment (paid, refunded in part or whole, disputed) has exactly one purchase
      entry, of its credits, on its account; any other payment has none;
    - a payment's refund entries never take back more than its purchase granted, and
      equal its ``credits_refunded``.
    """
    purchases = {
        ref: (count, amount)
        for ref, count, amount in LedgerEntry.objects.filter(kind=LedgerEntry.Kind.PURCHASE)
        .filter(reference__startswith="payment-")
        .values_list("reference")
        .annotate(n=Count("id"), total=Sum("amount"))
        .values_list("reference", "n", "total")
    }
    refunds: dict[int, int] = {}
    for reference, amount in LedgerEntry.objects.filter(
        kind=LedgerEntry.Kind.REFUND, reference__startswith="refund-"
    ).values_list("reference", "amount"):
        payment_id = int(reference.split("-")[1])
        refunds[payment_id] = refunds.get(payment_id, 0) - amount
    found: list[str] = []
    rows = Payment.objects.order_by("pk").values_list("pk", "status", "credits", "credits_refunded")
    for pk, status, credits, credits_refunded in rows.iterator():
        count, amount = purchases.get(f"payment-{pk}", (0, 0))
        if status in WAS_PAID and (count != 1 or amount != credits):
            found.append(
                f"payment {pk}: {status} with {count} purchase entries of {amount} credits "
                f"(expected one of {credits})"
            )
        elif status not in WAS_PAID and count:
            found.append(f"payment {pk}: {status} but has {count} purchase entries")
        taken = refunds.get(pk, 0)
        if taken > credits or taken != credits_refunded:
            found.append(
                f"payment {pk}: refunds took {taken} credits back (recorded "
                f"{credits_refunded}) of a purchase of {credits}"
            )
    return sentences_capped(found, limit)


def key_policy_check(
    *, user_id: int, rate_limit_rpm: int | None, is_new_key: bool = True
) -> int | None:
    """What the account's tier allows a key (``accounts.services`` asks, through
    ``ACCOUNTS_KEY_POLICY``, under a lock of the user's row): see ``tier_key_check``.
    ``is_new_key`` False: an existing key's rate limit is being changed, its count is not
    checked. Returns the key's rate limit; raises DomainError naming the field."""
    from accounts.models import ApiKey  # billing may read accounts; kept local to this check

    account_id = CreditAccount.objects.values_list("pk", flat=True).filter(user_id=user_id).first()
    tier = account_tier(account_id=account_id) if account_id else tiers_all()[0]
    usable = (
        ApiKey.objects.filter(user_id=user_id, is_disabled=False).count() if is_new_key else None
    )
    return tier_key_check(tier, usable_keys=usable, rate_limit_rpm=rate_limit_rpm)


def _credits_text(credits: int) -> str:
    """``2,000,000 credits ($2.00)``, ``1 credit ($0.000001)``: the credits and their exact
    USD, never rounded to a cent that would read as nothing (or as more than is there)."""
    return f"{credits:,} {'credit' if credits == 1 else 'credits'} ({usd_text(credits)})"


def account_deletion_refusal(*, user_id: int) -> str | None:
    """Why the user's account may not be deleted yet, or None (``accounts.services`` asks,
    through ``ACCOUNTS_DELETION_CHECK``): credits left on the balance would be lost, and a
    hold belongs to a request or task still running. With a zero balance nothing new can
    be held, so the answer stays true until the deletion commits."""
    account = CreditAccount.objects.filter(user_id=user_id).values("balance", "held").first()
    if account is None:
        return None
    balance, held = int(account["balance"]), int(account["held"])
    if held:
        verb = "is" if held == 1 else "are"
        return (
            f"{_credits_text(held)} {verb} held for requests still running. Wait for them to "
            "finish, then try again."
        )
    if balance:
        return (
            f"The account still has a balance of {_credits_text(balance)}. Spend it or ask "
            "for a refund first: deleting the account would forfeit it."
        )
    return None
