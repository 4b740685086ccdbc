"""Payments in Django admin: packs (edited here), payments, Stripe events, auto-recharge
and adjustments (read-only, written only by the system), billing profiles (the admin's
tier), and the two account actions: an audited manual adjustment and clearing a
suspension. Registered by ``billing.admin``."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import IntegrityError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

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
from config.admin_readonly import ReadOnlyAdmin
from config.errors import DomainError


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
        "credits",
        "bonus_credits",
        "is_active",
        "sort_order",
    ]
    list_editable = ["is_active", "sort_order"]
    search_fields = ["slug", "name"]


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "created_at",
        "account",
        "kind",
        "description",
        "amount_cents",
        "credits",
        "status",
        "amount_refunded_cents",
        "credits_refunded",
        "shortfall",
        "shortfall_cleared",
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


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ["event_id", "type", "received_at", "processed_at", "error", "ignored_reason"]
    list_filter = ["type"]
    search_fields = ["event_id"]
    date_hierarchy = "received_at"


@admin.register(AutoRecharge)
class AutoRechargeAdmin(ReadOnlyAdmin):
    list_display = ["account", "is_enabled", "threshold", "pack", "declines_in_row", "last_error"]
    list_select_related = ["account__user", "pack"]


class BillingProfileForm(forms.ModelForm):
    tier = forms.ChoiceField(choices=[("", "by purchases"), *TIER_CHOICES], required=False)

    class Meta:
        model = BillingProfile
        fields = ["tier"]


@admin.register(BillingProfile)
class BillingProfileAdmin(admin.ModelAdmin):
    form = BillingProfileForm
    list_display = ["account", "tier", "stripe_customer_id"]
    readonly_fields = ["account", "stripe_customer_id"]
    search_fields = ["account__user__email", "stripe_customer_id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(CreditAdjustment)
class CreditAdjustmentAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "account", "amount", "reason", "staff_user", "ledger_entry"]
    search_fields = ["account__user__email", "reason"]
    list_select_related = ["account__user", "staff_user"]


@admin.register(PaymentDispute)
class PaymentDisputeAdmin(ReadOnlyAdmin):
    list_display = ["stripe_dispute_id", "payment", "status", "opened_at", "closed_at", "clearance"]
    list_filter = ["status"]
    search_fields = ["stripe_dispute_id", "payment__account__user__email"]
    list_select_related = ["payment", "clearance"]


@admin.register(SuspensionClearance)
class SuspensionClearanceAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "account", "staff_user", "shortfall_cleared"]
    search_fields = ["account__user__email"]
    list_select_related = ["account__user", "staff_user"]
