"""Users (email login) and keys in Django admin. A key's secret is never shown nor accepted:
keys are created in the console or with ``manage.py apikey_create``; here they are read,
limited and revoked (with an audit row). A key's rate limit stays within the account's
tier here too (a validation error above it): staff who want more set the tier on the
account's billing profile, which is recorded there, rather than bypass it per key."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from accounts.forms import AdminUserAddForm, AdminUserChangeForm, ApiKeyAdminForm
from accounts.models import ApiKey, ApiKeyEvent, User
from accounts.services import apikey_revoke, apikey_update
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
        return credits_display(account.balance if account else None)


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
        "user",
        "is_disabled",
        "expires_at",
        "monthly_limit",
        "last_used_at",
        "created_at",
    ]
    list_filter = ["is_disabled"]
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
    list_display = ["created_at", "kind", "api_key", "actor"]
    list_filter = ["kind"]
    search_fields = ["api_key__prefix", "api_key__user__email", "actor__email"]
    list_select_related = ["api_key", "actor"]
    date_hierarchy = "created_at"
