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
from django.utils.html import format_html
from django.utils.safestring import SafeString

from billing.admin_payments import adjust_credits, clear_suspension
from billing.models import CreditAccount, Hold, KeySpend, LedgerEntry
from billing.services import InsufficientCredits, credits_grant
from config.admin_format import clipped, credits_cell, time_cell
from config.admin_readonly import ReadOnlyAdmin


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


def _owner(account: CreditAccount) -> str:
    return account.user.email


@admin.register(CreditAccount)
class CreditAccountAdmin(ReadOnlyAdmin):
    list_display = [
        "owner",
        "balance_cell",
        "held_cell",
        "available_cell",
        "is_suspended",
        "updated",
    ]
    list_filter = ["is_suspended"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
    actions = [grant_credits, adjust_credits, clear_suspension]

    @admin.display(description="owner", ordering="user__email")
    def owner(self, obj: CreditAccount) -> str:
        return _owner(obj)

    @admin.display(description="balance", ordering="balance")
    def balance_cell(self, obj: CreditAccount) -> str:
        return credits_cell(obj.balance)

    @admin.display(description="held", ordering="held")
    def held_cell(self, obj: CreditAccount) -> str:
        return credits_cell(obj.held)

    @admin.display(description="available")
    def available_cell(self, obj: CreditAccount) -> str:
        return credits_cell(obj.available)

    @admin.display(description="updated", ordering="updated_at")
    def updated(self, obj: CreditAccount) -> str:
        return time_cell(obj.updated_at)

    def has_grant_permission(self, request: HttpRequest) -> bool:
        # The admin itself is read-only; granting needs the real change permission.
        return request.user.has_perm("billing.change_creditaccount")


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["time", "owner", "kind", "amount_cell", "balance_cell", "key", "detail"]
    list_display_links = ["time"]
    list_filter = ["kind"]
    search_fields = ["reference", "memo", "account__user__email"]
    list_select_related = ["account__user", "api_key"]
    date_hierarchy = "created_at"

    @admin.display(description="time", ordering="created_at")
    def time(self, obj: LedgerEntry) -> str:
        return time_cell(obj.created_at)

    @admin.display(description="owner", ordering="account__user__email")
    def owner(self, obj: LedgerEntry) -> str:
        return _owner(obj.account)

    @admin.display(description="amount", ordering="amount")
    def amount_cell(self, obj: LedgerEntry) -> str:
        """Signed: + adds to the balance, - takes from it."""
        return credits_cell(obj.amount, signed=True)

    @admin.display(description="balance after", ordering="balance_after")
    def balance_cell(self, obj: LedgerEntry) -> str:
        return credits_cell(obj.balance_after)

    @admin.display(description="key")
    def key(self, obj: LedgerEntry) -> str:
        return obj.api_key.display if obj.api_key else "–"

    @admin.display(description="memo / reference")
    def detail(self, obj: LedgerEntry) -> SafeString:
        return format_html(
            '{}<span class="sub">{}</span>', clipped(obj.memo, width=40), clipped(obj.reference)
        )


@admin.register(KeySpend)
class KeySpendAdmin(ReadOnlyAdmin):
    list_display = ["api_key", "owner", "month", "spent_cell", "held_cell"]
    list_filter = ["month"]
    search_fields = ["api_key__prefix", "api_key__user__email"]
    list_select_related = ["api_key__user"]

    @admin.display(description="owner", ordering="api_key__user__email")
    def owner(self, obj: KeySpend) -> str:
        return obj.api_key.user.email

    @admin.display(description="spent", ordering="spent")
    def spent_cell(self, obj: KeySpend) -> str:
        return credits_cell(obj.spent)

    @admin.display(description="held", ordering="held")
    def held_cell(self, obj: KeySpend) -> str:
        return credits_cell(obj.held)


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ["request_id", "owner", "api_key", "amount_cell", "created", "expires"]
    search_fields = ["request_id", "account__user__email"]
    list_select_related = ["account__user", "api_key"]
    date_hierarchy = "created_at"

    @admin.display(description="owner", ordering="account__user__email")
    def owner(self, obj: Hold) -> str:
        return _owner(obj.account)

    @admin.display(description="amount", ordering="amount")
    def amount_cell(self, obj: Hold) -> str:
        return credits_cell(obj.amount)

    @admin.display(description="created", ordering="created_at")
    def created(self, obj: Hold) -> str:
        return time_cell(obj.created_at)

    @admin.display(description="expires", ordering="expires_at")
    def expires(self, obj: Hold) -> str:
        return time_cell(obj.expires_at)
