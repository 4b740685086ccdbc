"""The daily usage rollup a settle adds to (``billing.ledger.Accumulate``): one UsageDaily
row per (user, key, model, surface, UTC day), written with the request's Generation, in the
same statement on PostgreSQL. A released (failed) or refused request adds nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

from billing.ledger import AccumulateTable
from gateway.models import UsageDaily


class Settles(Protocol):
    """What a rollup needs of a request's record (a GenerationRow or a Generation)."""

    user_id: int
    api_key_id: int | None
    model: str
    surface: str
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One settled request's share of its bucket; the ledger fills in ``day`` (the settle's
    UTC date) and ``cost`` (the credits charged)."""

    table: ClassVar[AccumulateTable] = AccumulateTable(
        model=UsageDaily,
        key_fields=("user_id", "key_id", "model", "surface", "day"),
        sum_fields=("requests", "prompt_tokens", "completion_tokens", "cost"),
        date_field="day",
        charge_field="cost",
    )

    user_id: int
    key_id: int
    model: str
    surface: str
    requests: int
    prompt_tokens: int
    completion_tokens: int

    @classmethod
    def of(cls, record: Settles) -> UsageRow:
        """The share of the request ``record`` describes (key 0: a request without a key)."""
        return cls(
            user_id=record.user_id,
            key_id=record.api_key_id or 0,
            model=record.model,
            surface=record.surface,
            requests=1,
            prompt_tokens=record.prompt_tokens,
            completion_tokens=record.completion_tokens,
        )
