"""Money in Django admin, read-only: accounts, the ledger, key spend and holds. The one write
is the "Grant credits" action on accounts, which goes through ``billing.services.credits_grant``
(the command line equivalent: ``manage.py credits_grant EMAIL CREDITS --reason ...``)."""

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

from billing.admin_payments import adjust_credits, clear_suspension
from billing.models import CreditAccount, Hold, KeySpend, LedgerEntry
from billing.services import InsufficientCredits, credits_grant
from config.admin_readonly import ReadOnlyAdmin
from config.money import credits_to_usd


class GrantForm(forms.Form):
    credits = forms.IntegerField(
        help_text="1,000,000 credits = 1 USD. Negative takes credits away (never below what "
        "is available)."
    )
    kind = forms.ChoiceField(
        choices=[
            (LedgerEntry.Kind.GRANT, "grant"),
            (LedgerEntry.Kind.ADJUSTMENT, "adjustment"),
            (LedgerEntry.Kind.REFUND, "refund"),
        ]
    )
    memo = forms.CharField(max_length=200, help_text="Why; kept on the ledger entry.")
    # One token per opened form: submitting it twice is refused by the ledger's unique
    # (kind, reference), so a double click never grants twice.
    token = forms.CharField(widget=forms.HiddenInput)

    def clean_credits(self) -> int:
        credits = self.cleaned_data["credits"]
        if credits == 0:
            raise forms.ValidationError("Enter a non-zero number of credits.")
        return credits


@admin.action(description="Grant or take away credits", permissions=["grant"])
def grant_credits(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet
) -> TemplateResponse | None:
    if "apply" in request.POST:
        form = GrantForm(request.POST)
        if form.is_valid():
            _grant(modeladmin, request, queryset, form.cleaned_data)
            return None
    else:
        form = GrantForm(initial={"token": uuid.uuid4().hex, "kind": LedgerEntry.Kind.GRANT})
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Grant or take away credits",
        "opts": modeladmin.model._meta,
        "accounts": queryset.select_related("user"),
        "form": form,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/billing/creditaccount/grant.html", context)


def _grant(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet, data: dict[str, Any]
) -> None:
    for account in queryset.select_related("user").order_by("pk"):
        try:
            entry = credits_grant(
                user_id=account.user_id,
                amount=data["credits"],
                kind=data["kind"],
                reference=f"admin:{data['token']}:{account.pk}",
                memo=f"{data['memo']} (by {request.user})",
            )
        except IntegrityError:
            modeladmin.message_user(
                request, f"{account.user}: already applied (form sent twice).", messages.WARNING
            )
        except InsufficientCredits:
            modeladmin.message_user(
                request,
                f"{account.user}: cannot take away more than the available credits.",
                messages.ERROR,
            )
        else:
            modeladmin.message_user(
                request,
                f"{account.user}: {entry.amount:+,} credits, balance now {entry.balance_after:,}.",
                messages.SUCCESS,
            )


@admin.register(CreditAccount)
class CreditAccountAdmin(ReadOnlyAdmin):
    list_display = ["user", "balance", "held", "available", "usd", "is_suspended", "updated_at"]
    list_filter = ["is_suspended"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
    actions = [grant_credits, adjust_credits, clear_suspension]

    @admin.display(description="balance USD")
    def usd(self, obj: CreditAccount) -> str:
        return f"${credits_to_usd(obj.balance):,.6f}"

    def has_grant_permission(self, request: HttpRequest) -> bool:
        # The admin itself is read-only; granting needs the real change permission.
        return request.user.has_perm("billing.change_creditaccount")


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "account",
        "kind",
        "amount",
        "balance_after",
        "reference",
        "memo",
        "api_key",
    ]
    list_filter = ["kind"]
    search_fields = ["reference", "memo", "account__user__email"]
    list_select_related = ["account__user", "api_key"]
    date_hierarchy = "created_at"


@admin.register(KeySpend)
class KeySpendAdmin(ReadOnlyAdmin):
    list_display = ["api_key", "month", "spent", "held"]
    list_filter = ["month"]
    search_fields = ["api_key__prefix", "api_key__user__email"]
    list_select_related = ["api_key"]


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ["request_id", "account", "api_key", "amount", "created_at", "expires_at"]
    search_fields = ["request_id", "account__user__email"]
    list_select_related = ["account__user", "api_key"]
    date_hierarchy = "created_at"
