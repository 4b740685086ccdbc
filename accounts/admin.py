"""Users (email login) and keys in Django admin. A key's secret is never shown nor accepted:
keys are created in the console or with ``manage.py apikey_create``; here they are read,
limited and revoked (with an audit row). A key's rate limit stays within the account's
tier here too (a validation error above it): staff who want more set the tier on the
account's billing profile, which is recorded there, rather than bypass it per key."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import Q, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

from accounts.forms import AdminUserAddForm, AdminUserChangeForm, ApiKeyAdminForm
from accounts.models import ApiKey, ApiKeyEvent, User
from accounts.services import apikey_revoke, apikey_update
from config.admin_format import credits_cell, time_cell
from config.admin_readonly import ReadOnlyAdmin
from config.money import credits_to_usd


def credits_display(credits: int | None) -> str:
    """``5,000,000 credits ($5.000000)``; 1,000,000 credits = 1 USD."""
    if credits is None:
        return "-"
    return f"{credits:,} credits (${credits_to_usd(credits):,.6f})"


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = AdminUserChangeForm
    add_form = AdminUserAddForm
    list_display = ["email", "name", "is_staff", "is_active", "is_api_enabled", "balance"]
    list_filter = ["is_staff", "is_superuser", "is_active", "is_api_enabled"]
    list_select_related = ["credit_account"]
    search_fields = ["email", "name"]
    ordering = ["email"]
    readonly_fields = ["balance", "last_login", "date_joined"]
    fieldsets = [
        (None, {"fields": ["email", "password", "name", "balance"]}),
        (
            "Access",
            {
                "fields": [
                    "is_active",
                    "is_api_enabled",
                    "is_staff",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                ]
            },
        ),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": ["email", "usable_password", "password1", "password2"],
            },
        ),
    ]

    @admin.display(description="balance")
    def balance(self, obj: User) -> str:
        # Credits change only through billing.services (grant from the credit account page).
        account = getattr(obj, "credit_account", None)
        return credits_cell(account.balance if account else None)


class ApiKeyEventInline(admin.TabularInline):
    model = ApiKeyEvent
    fields = ["created_at", "kind", "actor", "detail"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def key_status(key: ApiKey, now: dt.datetime | None = None) -> str:
    """``revoked`` (disabled: refused for good), ``expired`` (past ``expires_at``) or
    ``active``; a revoked key that has also expired is revoked."""
    if key.is_disabled:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= (now or timezone.now()):
        return "expired"
    return "active"


class KeyStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [("active", "active"), ("revoked", "revoked"), ("expired", "expired")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        expired = Q(expires_at__isnull=False, expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(is_disabled=True)
        if self.value() == "expired":
            return queryset.filter(expired, is_disabled=False)
        if self.value() == "active":
            return queryset.filter(is_disabled=False).exclude(expired)
        return queryset


@admin.action(description="Revoke selected keys")
def revoke(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    count = 0
    for key in queryset.filter(is_disabled=False).order_by("pk"):
        apikey_revoke(api_key=key, actor=request.user)
        count += 1
    modeladmin.message_user(request, f"{count} key(s) revoked.", messages.SUCCESS)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyAdminForm
    list_display = [
        "name",
        "display",
        "owner",
        "status",
        "expires",
        "limit",
        "last_used",
        "created",
    ]
    list_filter = [KeyStatusFilter]
    search_fields = ["name", "prefix", "user__email"]
    list_select_related = ["user"]
    readonly_fields = [
        "user",
        "display",
        "prefix",
        "secret_hash",
        "is_disabled",
        "created_at",
        "last_used_at",
    ]
    fieldsets = [
        (None, {"fields": ["user", "name", "display", "prefix", "secret_hash", "is_disabled"]}),
        (
            "Limits",
            {
                "fields": [
                    "monthly_limit",
                    "limit_reset",
                    "allowed_models",
                    "allowed_ips",
                    "rate_limit_rpm",
                    "expires_at",
                ]
            },
        ),
        (None, {"fields": ["created_at", "last_used_at"]}),
    ]
    inlines = [ApiKeyEventInline]
    actions = [revoke]

    @admin.display(description="key")
    def display(self, obj: ApiKey) -> str:
        return obj.display

    @admin.display(description="owner", ordering="user__email")
    def owner(self, obj: ApiKey) -> str:
        return obj.user.email

    @admin.display(description="status")
    def status(self, obj: ApiKey) -> str:
        state = key_status(obj)
        return format_html('<span class="key-status {}">{}</span>', state, state)

    @admin.display(description="expires", ordering="expires_at")
    def expires(self, obj: ApiKey) -> str:
        return time_cell(obj.expires_at) if obj.expires_at else "never"

    @admin.display(description="monthly limit", ordering="monthly_limit")
    def limit(self, obj: ApiKey) -> str:
        return credits_cell(obj.monthly_limit) if obj.monthly_limit is not None else "none"

    @admin.display(description="last used", ordering="last_used_at")
    def last_used(self, obj: ApiKey) -> str:
        return time_cell(obj.last_used_at) if obj.last_used_at else "never"

    @admin.display(description="created", ordering="created_at")
    def created(self, obj: ApiKey) -> str:
        return time_cell(obj.created_at)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Creating here would have to show the secret; the console and apikey_create do.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Revoke instead: generations and the ledger keep pointing at the key.
        return False

    def save_model(self, request: HttpRequest, obj: ApiKey, form: ModelForm, change: bool) -> None:
        apikey_update(api_key=obj, changed=list(form.changed_data), actor=request.user)


@admin.register(ApiKeyEvent)
class ApiKeyEventAdmin(ReadOnlyAdmin):
    list_display = ["time", "kind", "api_key", "actor"]
    list_display_links = ["time"]
    list_filter = ["kind"]
    search_fields = ["api_key__prefix", "api_key__user__email", "actor__email"]
    list_select_related = ["api_key", "actor"]
    date_hierarchy = "created_at"

    @admin.display(description="time", ordering="created_at")
    def time(self, obj: ApiKeyEvent) -> str:
        return time_cell(obj.created_at)
