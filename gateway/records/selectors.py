"""Reads of the request log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from gateway.models import Generation, SweepRun


def generation_get(*, request_id: str, user_id: int) -> Generation | None:
    """The caller's own record, or None (another user's id is indistinguishable from an
    unknown one)."""
    return Generation.objects.filter(request_id=request_id, user_id=user_id).first()


def generation_detail(generation: Generation) -> dict[str, Any]:
    g = generation
    return {
        "id": g.request_id,
        "created_at": g.created_at.isoformat(),
        "model": g.model,
        "provider": g.provider,
        "upstream_model": g.upstream_model,
        "surface": g.surface,
        "status": g.status,
        "http_status": g.http_status,
        "error_code": g.error_code or None,
        "finish_reason": g.finish_reason or None,
        "streamed": g.is_streamed,
        "cancelled": g.status == Generation.Status.CANCELLED,
        "usage_estimated": g.usage_estimated,
        "latency_ms": g.latency_ms,
        "time_to_first_token_ms": g.ttft_ms,
        "tokens_prompt": g.prompt_tokens,
        "tokens_completion": g.completion_tokens,
        "tokens_cached": g.cached_tokens,
        "tokens_reasoning": g.reasoning_tokens,
        "native_usage": g.native_usage,
        "prices": g.prices,
        "cost": g.cost,
        "cost_breakdown": g.cost_breakdown,
        "cost_units": "credits (1,000,000 = 1 USD)",
        "attempts": g.attempts,
        "api_key": g.api_key.display if g.api_key_id and g.api_key else None,
    }


def sweep_age_seconds(*, now: dt.datetime | None = None) -> float | None:
    """Seconds since the holds sweeper last ran, or None if it never did (for /readyz)."""
    ran_at = SweepRun.objects.filter(pk=1).values_list("ran_at", flat=True).first()
    if ran_at is None:
        return None
    return ((now or timezone.now()) - ran_at).total_seconds()
