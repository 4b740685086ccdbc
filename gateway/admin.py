"""The request log in Django admin, read-only. The list keeps to what fits at 1280 px:
model with its provider, status with its HTTP code, tokens in → out, cost in credits
with USD; the record's page has everything else."""

from __future__ import annotations

import datetime as dt

from django.contrib import admin
from django.utils.html import format_html
from django.utils.safestring import SafeString

from config.admin_format import credits_cell, time_cell
from config.admin_readonly import ReadOnlyAdmin
from gateway.models import Generation, RateCounter


@admin.register(Generation)
class GenerationAdmin(ReadOnlyAdmin):
    list_display = [
        "time",
        "request_id",
        "owner",
        "model_provider",
        "surface",
        "outcome",
        "tokens",
        "cost_cell",
        "latency",
    ]
    list_display_links = ["time", "request_id"]
    list_filter = ["status", "surface", "provider", "model", "is_streamed", "usage_estimated"]
    search_fields = ["request_id", "user__email"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description="time", ordering="created_at")
    def time(self, obj: Generation) -> str:
        return time_cell(obj.created_at)

    @admin.display(description="user", ordering="user__email")
    def owner(self, obj: Generation) -> str:
        return obj.user.email

    @admin.display(description="model / provider", ordering="model")
    def model_provider(self, obj: Generation) -> SafeString:
        return format_html('{}<span class="sub">{}</span>', obj.model, obj.provider or "–")

    @admin.display(description="status", ordering="status")
    def outcome(self, obj: Generation) -> SafeString:
        detail = f"{obj.http_status} {obj.error_code}".strip()
        flags = [
            f for f, on in (("streamed", obj.is_streamed), ("estimated", obj.usage_estimated)) if on
        ]
        if flags:
            detail += " · " + ", ".join(flags)
        return format_html('{}<span class="sub">{}</span>', obj.get_status_display(), detail)

    @admin.display(description="tokens in → out")
    def tokens(self, obj: Generation) -> str:
        return f"{obj.prompt_tokens:,} → {obj.completion_tokens:,}"

    @admin.display(description="cost", ordering="cost")
    def cost_cell(self, obj: Generation) -> str:
        return credits_cell(obj.cost)

    @admin.display(description="latency", ordering="latency_ms")
    def latency(self, obj: Generation) -> str:
        return f"{obj.latency_ms:,} ms"


@admin.register(RateCounter)
class RateCounterAdmin(ReadOnlyAdmin):
    list_display = ["api_key_id", "next_at"]

    @admin.display(description="next request allowed at", ordering="tat")
    def next_at(self, obj: RateCounter) -> str:
        """The theoretical arrival time (GCRA), microseconds since the epoch."""
        return time_cell(dt.datetime.fromtimestamp(obj.tat / 1_000_000, tz=dt.UTC))
