"""The record of one request: ``Outcome`` gathers it along the way, and ``GenerationRow``
is the typed row the ledger writes with the request's charge (``billing.ledger.Record``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from billing.ledger import RecordTable
from billing.pricing import Usage
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

    def row(
        self,
        *,
        status: str,
        http_status: int,
        error_code: str = "",
        cost_breakdown: dict[str, str] | None = None,
    ) -> GenerationRow:
        """The Generation to write, but for what the ledger fills in (its entry, its cost,
        its time)."""
        usage = self.usage
        return GenerationRow(
            request_id=self.request_id,
            user_id=self.user_id,
            api_key_id=self.api_key_id,
            model=self.model,
            # a user's own provider (negative route id, gateway.self_route) has no Route row:
            # the record names it by ``provider`` and its attempts
            route_id=self.route_id if self.route_id is None or self.route_id > 0 else None,
            provider=self.provider,
            upstream_model=self.upstream_model,
            surface=self.surface,
            status=str(status),
            http_status=http_status,
            error_code=error_code,
            finish_reason=self.finish_reason,
            latency_ms=self.latency_ms,
            ttft_ms=self.ttft_ms,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            native_usage=self.native_usage,
            prices=self.prices,
            cost_breakdown=cost_breakdown or {},
            attempts=self.attempts,
            is_streamed=self.is_streamed,
            usage_estimated=self.usage_estimated,
        )


@dataclass(frozen=True, slots=True)
class GenerationRow:
    """A Generation's columns but its id, ``ledger_entry_id``, ``cost`` and ``created_at``,
    which the ledger fills (``billing.ledger.Record``)."""

    table: ClassVar[RecordTable] = RecordTable(
        model=Generation, entry_field="ledger_entry_id", charge_field="cost"
    )

    request_id: str
    user_id: int
    api_key_id: int | None
    model: str
    route_id: int | None
    provider: str
    upstream_model: str
    surface: str
    status: str
    http_status: int
    error_code: str
    finish_reason: str
    latency_ms: int
    ttft_ms: int | None
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    native_usage: dict[str, Any]
    prices: dict[str, str]
    cost_breakdown: dict[str, str]
    attempts: list[dict[str, Any]]
    is_streamed: bool
    usage_estimated: bool
