"""The usage data tests' world: two priced models behind the fake upstream, and the
rollups and request log read back as plain sums."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest

from gateway.models import Generation, UsageDaily
from tests.factories import ModelFactory
from tests.fakes.upstream import FakeUpstream

START = 10_000_000

Bucket = tuple[int, int, str, dt.date]
Sums = tuple[int, int, int, int]


@pytest.fixture
def priced_models(make_model: ModelFactory, upstream: FakeUpstream) -> None:
    make_model("test/echo", prompt="30", completion="70")
    make_model("test/other", prompt="3", completion="9")
    make_model("test/broken", upstream_models=("fail-500",))


def rollups() -> dict[Bucket, Sums]:
    """Every UsageDaily row: (user, key, model, day) -> (requests, prompt, completion, cost)."""
    fields = ("requests", "prompt_tokens", "completion_tokens", "cost")
    return {
        (u, k, m, d): (r, p, c, cost)
        for u, k, m, d, r, p, c, cost in UsageDaily.objects.values_list(
            "user_id", "key_id", "model", "day", *fields
        )
    }


def generation_sums() -> dict[Bucket, Sums]:
    """The same sums from the settled Generations (those with a ledger entry)."""
    sums: dict[Bucket, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for g in Generation.objects.filter(ledger_entry__isnull=False):
        bucket = (g.user_id, g.api_key_id or 0, g.model, g.created_at.astimezone(dt.UTC).date())
        for i, value in enumerate((1, g.prompt_tokens, g.completion_tokens, g.cost)):
            sums[bucket][i] += value
    return {bucket: (v[0], v[1], v[2], v[3]) for bucket, v in sums.items()}


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()
