"""The request log in Django admin, read-only."""

from __future__ import annotations

from django.contrib import admin

from config.admin_readonly import ReadOnlyAdmin
from gateway.models import Generation, RateCounter


@admin.register(Generation)
class GenerationAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "request_id",
        "user",
        "model",
        "provider",
        "surface",
        "status",
        "http_status",
        "prompt_tokens",
        "completion_tokens",
        "cost",
        "latency_ms",
    ]
    list_filter = ["status", "surface", "provider", "model", "is_streamed", "usage_estimated"]
    search_fields = ["request_id", "user__email"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(RateCounter)
class RateCounterAdmin(ReadOnlyAdmin):
    list_display = ["api_key_id", "tat"]
