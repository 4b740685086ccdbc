"""Payments in Django admin: packs (edited here), payments, Stripe events, auto-recharge
and adjustments (read-only, written only by the system), billing profiles (the admin's
tier), and the two account actions: an audited manual adjustment and clearing a
suspension. Registered by ``billing.admin``."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import IntegrityError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from billing.models_payments import (
    AutoRecharge,
    BillingProfile,
    CreditAdjustment,
    Payment,
    PaymentDispute,
    StripeEvent,
    SuspensionClearance,
    TopUpPack,
)
from billing.services.disputes import account_suspension_clear
from billing.services.payments import credits_adjust
from billing.tiers import TIER_CHOICES
from config.admin_format import cents_cell, clipped, credits_cell, time_cell
from config.admin_readonly import ReadOnlyAdmin
from config.errors import DomainError


class AccountOwnerColumn:
    """An ``owner`` column: the email of the row's account's user (an account's own
    ``str()`` shows its balance, which reads like the row's amount)."""

    @admin.display(description="owner", ordering="account__user__email")
    def owner(self, obj: Any) -> str:
        return obj.account.user.email


class AdjustForm(forms.Form):
    credits = forms.IntegerField(
        help_text="Signed: negative takes credits away (never below what is available). "
        "1,000,000 credits = 1 USD."
    )
    reason = forms.CharField(max_length=200, help_text="Kept on the ledger and the audit row.")
    # One token per opened form: the ledger's unique (kind, reference) refuses a second
    # submission, so a double click never adjusts twice.
    token = forms.CharField(widget=forms.HiddenInput)


@admin.action(description="Adjust credits (audited)", permissions=["grant"])
def adjust_credits(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet
) -> TemplateResponse | None:
    applying = "apply" in request.POST
    form = AdjustForm(request.POST) if applying else AdjustForm(initial={"token": uuid.uuid4().hex})
    if applying and form.is_valid():
        for account in queryset.select_related("user").order_by("pk"):
            try:
                entry = credits_adjust(
                    account_id=account.pk,
                    staff_user=request.user,  # type: ignore[arg-type]
                    amount=form.cleaned_data["credits"],
                    reason=form.cleaned_data["reason"],
                    reference=f"adjust:{form.cleaned_data['token']}:{account.pk}",
                )
            except IntegrityError:
                modeladmin.message_user(
                    request, f"{account.user}: already applied (form sent twice).", messages.WARNING
                )
            except DomainError as exc:
                modeladmin.message_user(request, f"{account.user}: {exc.message}", messages.ERROR)
            else:
                modeladmin.message_user(
                    request,
                    f"{account.user}: {entry.amount:+,} credits, balance {entry.balance_after:,}.",
                    messages.SUCCESS,
                )
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Adjust credits",
        "opts": modeladmin.model._meta,
        "accounts": queryset.select_related("user"),
        "form": form,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/billing/creditaccount/adjust.html", context)


@admin.action(description="Clear suspension", permissions=["grant"])
def clear_suspension(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet
) -> None:
    for account in queryset.filter(is_suspended=True).order_by("pk"):
        clearance = account_suspension_clear(
            account_id=account.pk,
            staff_user=request.user,  # type: ignore[arg-type]
        )
        modeladmin.message_user(
            request,
            f"{account.user}: suspension cleared ({clearance.shortfall_cleared:,} credits "
            "of shortfall written off).",
            messages.SUCCESS,
        )


@admin.register(TopUpPack)
class TopUpPackAdmin(admin.ModelAdmin):
    list_display = [
        "slug",
        "name",
        "price_usd",
        "credits_cell",
        "bonus",
        "is_active",
        "sort_order",
    ]
    list_editable = ["is_active", "sort_order"]
    search_fields = ["slug", "name"]

    @admin.display(description="credits (bonus included)", ordering="credits")
    def credits_cell(self, obj: TopUpPack) -> str:
        return credits_cell(obj.credits)

    @admin.display(description="bonus")
    def bonus(self, obj: TopUpPack) -> str:
        return credits_cell(obj.bonus_credits)


@admin.register(Payment)
class PaymentAdmin(AccountOwnerColumn, ReadOnlyAdmin):
    list_display = [
        "id",
        "time",
        "owner",
        "what",
        "amount",
        "status",
        "refunded",
        "shortfall_cell",
        "needs_review",
    ]
    list_filter = ["status", "kind", "needs_review"]
    search_fields = [
        "account__user__email",
        "stripe_session_id",
        "stripe_payment_intent_id",
        "stripe_charge_id",
    ]
    list_select_related = ["account__user"]
    date_hierarchy = "created_at"

    @admin.display(description="time", ordering="created_at")
    def time(self, obj: Payment) -> str:
        return time_cell(obj.created_at)

    @admin.display(description="kind / description")
    def what(self, obj: Payment) -> SafeString:
        return format_html(
            '{}<span class="sub">{}</span>', obj.get_kind_display(), clipped(obj.description)
        )

    @admin.display(description="paid → credits", ordering="amount_cents")
    def amount(self, obj: Payment) -> SafeString:
        return format_html(
            '<span class="nowrap">{}</span><span class="sub">{} cr</span>',
            cents_cell(obj.amount_cents),
            f"{obj.credits:,}",
        )

    @admin.display(description="refunded")
    def refunded(self, obj: Payment) -> SafeString | str:
        if not obj.amount_refunded_cents and not obj.credits_refunded:
            return "–"
        return format_html(
            '<span class="nowrap">{}</span><span class="sub">{} cr</span>',
            cents_cell(obj.amount_refunded_cents),
            f"{obj.credits_refunded:,}",
        )

    @admin.display(description="shortfall / cleared")
    def shortfall_cell(self, obj: Payment) -> SafeString | str:
        if not obj.shortfall and not obj.shortfall_cleared:
            return "–"
        return format_html(
            '{} cr<span class="sub">{} cr cleared</span>',
            f"{obj.shortfall:,}",
            f"{obj.shortfall_cleared:,}",
        )


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ["event_id", "type", "received", "processed", "outcome"]
    list_filter = ["type"]
    search_fields = ["event_id"]
    date_hierarchy = "received_at"

    @admin.display(description="received", ordering="received_at")
    def received(self, obj: StripeEvent) -> str:
        return time_cell(obj.received_at)

    @admin.display(description="processed", ordering="processed_at")
    def processed(self, obj: StripeEvent) -> str:
        return time_cell(obj.processed_at)

    @admin.display(description="error / ignored")
    def outcome(self, obj: StripeEvent) -> str:
        return clipped(obj.error or obj.ignored_reason, width=40) or "–"


@admin.register(AutoRecharge)
class AutoRechargeAdmin(AccountOwnerColumn, ReadOnlyAdmin):
    list_display = ["owner", "is_enabled", "threshold_cell", "pack", "declines_in_row", "error"]
    list_select_related = ["account__user", "pack"]

    @admin.display(description="threshold", ordering="threshold")
    def threshold_cell(self, obj: AutoRecharge) -> str:
        return credits_cell(obj.threshold)

    @admin.display(description="last error")
    def error(self, obj: AutoRecharge) -> str:
        return clipped(obj.last_error, width=40) or "–"


class BillingProfileForm(forms.ModelForm):
    tier = forms.ChoiceField(choices=[("", "by purchases"), *TIER_CHOICES], required=False)

    class Meta:
        model = BillingProfile
        fields = ["tier"]


@admin.register(BillingProfile)
class BillingProfileAdmin(AccountOwnerColumn, admin.ModelAdmin):
    form = BillingProfileForm
    list_display = ["owner", "tier", "stripe_customer_id"]
    list_select_related = ["account__user"]
    readonly_fields = ["account", "stripe_customer_id"]
    search_fields = ["account__user__email", "stripe_customer_id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(CreditAdjustment)
class CreditAdjustmentAdmin(AccountOwnerColumn, ReadOnlyAdmin):
    list_display = ["time", "owner", "amount_cell", "reason", "staff_user", "ledger_entry_id"]
    list_display_links = ["time"]
    search_fields = ["account__user__email", "reason"]
    list_select_related = ["account__user", "staff_user"]

    @admin.display(description="time", ordering="created_at")
    def time(self, obj: CreditAdjustment) -> str:
        return time_cell(obj.created_at)

    @admin.display(description="amount", ordering="amount")
    def amount_cell(self, obj: CreditAdjustment) -> str:
        return credits_cell(obj.amount, signed=True)


@admin.register(PaymentDispute)
class PaymentDisputeAdmin(ReadOnlyAdmin):
    list_display = ["stripe_dispute_id", "payment_id", "owner", "status", "opened", "closed"]
    list_filter = ["status"]
    search_fields = ["stripe_dispute_id", "payment__account__user__email"]
    list_select_related = ["payment__account__user"]

    @admin.display(description="owner", ordering="payment__account__user__email")
    def owner(self, obj: PaymentDispute) -> str:
        return obj.payment.account.user.email

    @admin.display(description="opened", ordering="opened_at")
    def opened(self, obj: PaymentDispute) -> str:
        return time_cell(obj.opened_at)

    @admin.display(description="closed", ordering="closed_at")
    def closed(self, obj: PaymentDispute) -> str:
        return time_cell(obj.closed_at)


@admin.register(SuspensionClearance)
class SuspensionClearanceAdmin(AccountOwnerColumn, ReadOnlyAdmin):
    list_display = ["time", "owner", "staff_user", "cleared"]
    list_display_links = ["time"]
    search_fields = ["account__user__email"]
    list_select_related = ["account__user", "staff_user"]

    @admin.display(description="time", ordering="created_at")
    def time(self, obj: SuspensionClearance) -> str:
        return time_cell(obj.created_at)

    @admin.display(description="shortfall cleared", ordering="shortfall_cleared")
    def cleared(self, obj: SuspensionClearance) -> str:
        return credits_cell(obj.shortfall_cleared)
