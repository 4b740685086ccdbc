"""Writes of the gateway: closing a request's money and its Generation record in one short
transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from billing.pricing import Cost, Usage
from billing.services import HoldRef, credits_release, credits_settle
from gateway.models import Generation


@dataclass(slots=True)
class Outcome:
    """Everything the record of one request needs, gathered along the way."""

    request_id: str
    user_id: int
    api_key_id: int | None
    surface: str
    model: str = ""
    route_id: int | None = None
    provider: str = ""
    upstream_model: str = ""
    prices: dict[str, str] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    native_usage: dict[str, Any] = field(default_factory=dict)
    usage_estimated: bool = False
    finish_reason: str = ""
    is_streamed: bool = False
    latency_ms: int = 0
    ttft_ms: int | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def record(self, **extra: Any) -> Generation:
        return Generation(
            request_id=self.request_id,
            user_id=self.user_id,
            api_key_id=self.api_key_id,
            model=self.model,
            route_id=self.route_id,
            provider=self.provider,
            upstream_model=self.upstream_model,
            surface=self.surface,
            finish_reason=self.finish_reason,
            latency_ms=self.latency_ms,
            ttft_ms=self.ttft_ms,
            prompt_tokens=self.usage.prompt_tokens,
            completion_tokens=self.usage.completion_tokens,
            cached_tokens=self.usage.cached_tokens,
            reasoning_tokens=self.usage.reasoning_tokens,
            native_usage=self.native_usage,
            prices=self.prices,
            attempts=self.attempts,
            is_streamed=self.is_streamed,
            usage_estimated=self.usage_estimated,
            **extra,
        )


@transaction.atomic
def generation_settle(
    *,
    hold: HoldRef,
    outcome: Outcome,
    cost: Cost,
    status: str = Generation.Status.SUCCESS,
    http_status: int = 200,
    error_code: str = "",
) -> Generation:
    """Charge the request and write its record: exactly one ledger entry per settled
    Generation."""
    entry = credits_settle(hold=hold, cost=cost.total, memo=outcome.model)
    generation = outcome.record(
        status=status,
        http_status=http_status,
        error_code=error_code,
        cost=-entry.amount,
        cost_breakdown=cost.breakdown(),
        ledger_entry=entry,
    )
    generation.save(force_insert=True)
    return generation


@transaction.atomic
def generation_fail(
    *, hold: HoldRef, outcome: Outcome, http_status: int, error_code: str
) -> Generation:
    """Release the hold, charge nothing, and record the failure."""
    credits_release(hold=hold)
    generation = outcome.record(
        status=Generation.Status.ERROR, http_status=http_status, error_code=error_code, cost=0
    )
    generation.save(force_insert=True)
    return generation
