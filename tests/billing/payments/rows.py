"""One row of every payments table, for pages that list them all (the admin's tests)."""

from __future__ import annotations

from accounts.models import User
from accounts.services import user_create
from billing.models import CreditAccount
from billing.models_payments import (
    AutoRecharge,
    BillingProfile,
    Payment,
    PaymentDispute,
    StripeEvent,
    SuspensionClearance,
    TopUpPack,
)
from billing.services.payments import credits_adjust


def payment_rows_create(*, user: User) -> None:
    account = CreditAccount.objects.get(user=user)
    pack = TopUpPack.objects.create(slug="ten", name="Ten", price_usd="10.00", credits=10_000_000)
    payment = Payment.objects.create(
        account=account, pack=pack, description="Ten", amount_cents=1_000, credits=10_000_000
    )
    StripeEvent.objects.create(
        event_id="evt_admin", type="customer.created", payload={"id": "evt_admin"}
    )
    AutoRecharge.objects.create(account=account, pack=pack, threshold=1_000_000)
    BillingProfile.objects.create(account=account, stripe_customer_id="cus_admin")
    # the adjustment goes to another account, so the user's ledger stays as the caller made it
    staff = user_create(email="adjuster@example.com", is_staff=True)
    other = CreditAccount.objects.get(user=user_create(email="adjusted@example.com"))
    credits_adjust(account_id=other.pk, staff_user=staff, amount=1, reason="admin test row")
    clearance = SuspensionClearance.objects.create(account=account, staff_user=staff)
    PaymentDispute.objects.create(
        payment=payment, stripe_dispute_id="dp_admin", status="won", clearance=clearance
    )
