"""The registry in Django admin: providers, models (the whitelist) with their routes and
aliases, and routes on their own.

``QuerySet.update()`` sends no signals, so every bulk action drops this process's catalog
snapshot itself; other processes see the change within ``GATEWAY_CATALOG_TTL_SECONDS``.

Where a provider's key goes is for superusers only: a provider's ``base_url`` and
``api_key_env`` together decide which secret is sent to which host, so staff with
``add_provider`` / ``change_provider`` see both read-only, on add as on change (the admin
ignores posted values of read-only fields). Nothing else in the admin writes them: the
bulk actions only switch ``is_enabled``, and there is no import page.
"""

from __future__ import annotations

import os

from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from catalog.models import Model, ModelAlias, Provider, Route
from catalog.selectors import catalog_invalidate
from catalog.units import PRICE_UNITS
from catalog.validators import api_key_env_refusal

# A provider's fields that decide where its credential is sent, and which one.
SUPERUSER_FIELDS = ("base_url", "api_key_env")
# One column per price unit, in the list (editable there) and on the model's page.
PRICE_COLUMNS = [unit.column for unit in PRICE_UNITS]


def _set_enabled(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet, *, enabled: bool
) -> None:
    count = queryset.update(is_enabled=enabled)
    catalog_invalidate()
    opts = modeladmin.model._meta
    noun = opts.verbose_name if count == 1 else opts.verbose_name_plural
    state = "enabled" if enabled else "disabled"
    modeladmin.message_user(request, f"{count} {noun} {state}.", messages.SUCCESS)


@admin.action(description="Enable selected")
def enable(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    _set_enabled(modeladmin, request, queryset, enabled=True)


@admin.action(description="Disable selected")
def disable(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    _set_enabled(modeladmin, request, queryset, enabled=False)


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = [
        "slug",
        "name",
        "dialect",
        "base_url",
        "api_key_env",
        "key_is_set",
        "is_enabled",
    ]
    list_filter = ["dialect", "is_enabled"]
    search_fields = ["slug", "name", "base_url"]
    actions = [enable, disable]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_readonly_fields(self, request: HttpRequest, obj: Provider | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += SUPERUSER_FIELDS
        return fields

    @admin.display(boolean=True, description="key set")
    def key_is_set(self, obj: Provider) -> bool | None:
        """Whether the named environment variable is set in this process (never its value);
        None when the provider needs no key, False when the name may not hold one (such a
        variable is never read, so not even its presence is shown)."""
        if not obj.api_key_env:
            return None
        if api_key_env_refusal(obj.api_key_env) is not None:
            return False
        return bool(os.environ.get(obj.api_key_env))


class RouteInline(admin.TabularInline):
    model = Route
    fields = ["provider", "upstream_model", "priority", "weight", "is_enabled"]
    extra = 0


class ModelAliasInline(admin.TabularInline):
    model = ModelAlias
    fields = ["alias"]
    extra = 0


class OutputModalityFilter(admin.SimpleListFilter):
    title = "output modality"
    parameter_name = "output"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [(m, m) for m in ("text", "image", "audio", "video", "embeddings")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if not value:
            return queryset
        # JSON ``contains`` is not available on SQLite; the quoted name matches one element.
        return queryset.filter(output_modalities__icontains=f'"{value}"')


@admin.register(Model)
class ModelAdmin(admin.ModelAdmin):
    list_display = ["public_id", "name", *PRICE_COLUMNS, "context_length", "is_enabled"]
    list_editable = [*PRICE_COLUMNS, "is_enabled"]
    list_filter = ["is_enabled", OutputModalityFilter]
    search_fields = ["public_id", "name", "aliases__alias"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [ModelAliasInline, RouteInline]
    actions = [enable, disable]
    fieldsets = [
        (None, {"fields": ["public_id", "name", "description", "is_enabled"]}),
        (
            "Prices (USD per 1M tokens = credits per token, or USD per unit; empty uses the "
            "fallback price)",
            {"fields": PRICE_COLUMNS},
        ),
        (
            "Capabilities",
            {
                "fields": [
                    "input_modalities",
                    "output_modalities",
                    "context_length",
                    "max_output_tokens",
                    "supported_parameters",
                ]
            },
        ),
        (None, {"fields": ["created_at", "updated_at"]}),
    ]


@admin.register(Route)
class RouteAdmin(admin.ModelAdmin):
    list_display = ["model", "provider", "upstream_model", "priority", "weight", "is_enabled"]
    list_filter = ["provider", "is_enabled"]
    search_fields = ["model__public_id", "upstream_model", "provider__slug"]
    list_select_related = ["model", "provider"]
    autocomplete_fields = ["model"]
    actions = [enable, disable]


@admin.register(ModelAlias)
class ModelAliasAdmin(admin.ModelAdmin):
    list_display = ["alias", "model"]
    search_fields = ["alias", "model__public_id"]
    list_select_related = ["model"]
    autocomplete_fields = ["model"]
