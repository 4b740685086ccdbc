"""The registry in Django admin: providers, models (the whitelist) with their routes and
aliases, and routes on their own.

``QuerySet.update()`` sends no signals, so every bulk action drops this process's catalog
snapshot itself; other processes see the change within ``GATEWAY_CATALOG_TTL_SECONDS``.

Where a provider's key goes is for superusers only: a provider's ``base_url`` and
``api_key_env`` together decide which secret is sent to which host, so staff with
``add_provider`` / ``change_provider`` see both read-only, on add as on change (the admin
ignores posted values of read-only fields). Nothing else in the admin writes them: the
bulk actions only switch ``is_enabled``, and there is no import page.

Each route shows its health (its circuit breaker, shared by every process) read-only: in
the route list (read once for the page), on its page and in the model's route rows.

A model's form (``catalog.forms.ModelAdminForm``) shows modalities as checkboxes and
supported parameters as a list of names, storing the same JSON lists; prices read ``1.76``
and ``0``, never ``1.760000000`` or ``0E-9``. The admin site's titles are set here too.
"""

from __future__ import annotations

import os
from decimal import Decimal

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from catalog.forms import ModelAdminForm, PriceInput
from catalog.models import MODALITIES, Model, ModelAlias, Provider, Route
from catalog.selectors import catalog_invalidate
from catalog.units import PRICE_UNITS, PriceUnit, decimal_text
from catalog.validators import api_key_env_refusal
from gateway.pipeline.health import RouteHealth, route_health

# The admin's titles name the product (catalog's admin loads first: every app needs it).
admin.site.site_header = settings.GATEWAY_SITE_NAME
admin.site.site_title = f"{settings.GATEWAY_SITE_NAME} admin"
admin.site.index_title = "Registry, money and requests"
# The app list in a sidebar takes a quarter of a 1280 px screen from every list page; the
# breadcrumbs and the index page lead to the same places.
admin.site.enable_nav_sidebar = False

# A provider's fields that decide where its credential is sent, and which one.
SUPERUSER_FIELDS = ("base_url", "api_key_env")
# One field per price unit on the model's page; in the list, prompt and completion are
# edited in place and the other units the model prices share one column.
PRICE_COLUMNS = [unit.column for unit in PRICE_UNITS]
LIST_PRICES = ["price_prompt", "price_completion"]
OTHER_UNITS = [unit for unit in PRICE_UNITS if unit.column not in LIST_PRICES]


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


def _health_text(health: RouteHealth) -> str:
    """A breaker as one short phrase: "closed", "closed, 2 failures", "open until … UTC"."""
    failures = f"{health.failures} failure{'' if health.failures == 1 else 's'}"
    if health.state == "open" and health.open_until is not None:
        until = health.open_until.strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"open until {until}" + (f", {failures}" if health.failures else "")
    return f"closed, {failures}" if health.failures else "closed"


class RouteHealthMixin:
    """A read-only ``health`` column and field: the route's circuit breaker as every process
    shares it (gateway.pipeline.health), read once for a whole list page."""

    @admin.display(description="health")
    def health(self, obj: Route) -> str:
        if obj.pk is None:
            return "–"
        health = getattr(obj, "_health", None) or route_health([obj.pk])[obj.pk]
        return _health_text(health)


class RouteChangeList(ChangeList):
    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        shown = route_health(route.pk for route in self.result_list)
        for route in self.result_list:
            route._health = shown[route.pk]


class RouteInline(RouteHealthMixin, admin.TabularInline):
    model = Route
    fields = ["provider", "upstream_model", "priority", "weight", "is_enabled", "health"]
    readonly_fields = ["health"]
    extra = 0


class ModelAliasInline(admin.TabularInline):
    model = ModelAlias
    fields = ["alias"]
    extra = 0


class OutputModalityFilter(admin.SimpleListFilter):
    title = "output modality"
    parameter_name = "output"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [(m, m) for m in MODALITIES if m != "file"]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if not value:
            return queryset
        # JSON ``contains`` is not available on SQLite; the quoted name matches one element.
        return queryset.filter(output_modalities__icontains=f'"{value}"')


def _unit_price(unit: PriceUnit, price: Decimal) -> str:
    """``cache read 0.132 /1M`` (USD per 1M tokens) or ``image 0.04`` (USD per unit)."""
    per = " /1M" if unit.is_per_token else ""
    return f"{unit.name.replace('_', ' ')} {decimal_text(price)}{per}"


@admin.register(Model)
class ModelAdmin(admin.ModelAdmin):
    form = ModelAdminForm
    list_display = [
        "public_id",
        "name",
        *LIST_PRICES,
        "other_prices",
        "context",
        "modalities",
        "is_enabled",
    ]
    list_editable = [*LIST_PRICES, "is_enabled"]
    formfield_overrides = {models.DecimalField: {"widget": PriceInput}}
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

    @admin.display(description="other prices (USD / 1M tokens or per unit)")
    def other_prices(self, obj: Model) -> SafeString | str:
        """The units other than prompt and completion that the model sets a price for
        (an empty one falls back as its unit says)."""
        prices = [
            (_unit_price(u, getattr(obj, u.column)),)
            for u in OTHER_UNITS
            if getattr(obj, u.column) is not None
        ]
        return format_html_join("", '<span class="unit">{}</span>', prices) if prices else "–"

    @admin.display(description="context", ordering="context_length")
    def context(self, obj: Model) -> str:
        return f"{obj.context_length:,}"

    @admin.display(description="in → out")
    def modalities(self, obj: Model) -> str:
        ins = "+".join(obj.input_modalities or ["text"])
        outs = "+".join(obj.output_modalities or ["text"])
        return f"{ins} → {outs}"


@admin.register(Route)
class RouteAdmin(RouteHealthMixin, admin.ModelAdmin):
    list_display = [
        "model",
        "provider",
        "upstream_model",
        "priority",
        "weight",
        "is_enabled",
        "health",
    ]
    readonly_fields = ["health"]
    list_filter = ["provider", "is_enabled"]
    search_fields = ["model__public_id", "upstream_model", "provider__slug"]
    list_select_related = ["model", "provider"]
    autocomplete_fields = ["model"]
    actions = [enable, disable]

    def get_changelist(self, request: HttpRequest, **kwargs: object) -> type[ChangeList]:
        return RouteChangeList


@admin.register(ModelAlias)
class ModelAliasAdmin(admin.ModelAdmin):
    list_display = ["alias", "model"]
    search_fields = ["alias", "model__public_id"]
    list_select_related = ["model"]
    autocomplete_fields = ["model"]
