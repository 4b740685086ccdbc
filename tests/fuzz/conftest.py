"""The fuzz suite's world: the input-shape tests' three models, two models whose upstreams
always fail, and an account funded well beyond any hold a generated request can ask for
(the names in tests/fuzz/world.py), whose key has no rate limit."""

from __future__ import annotations

import pytest

from catalog.models import Provider
from tests.factories import AccountFactory, ModelFactory
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.upstream import FakeUpstream
from tests.fuzz.world import BROKEN_CLAUDE, BROKEN_GPT, FUZZ_CREDITS
from tests.validation.world import CLAUDE, EMBED, GPT, World


@pytest.fixture
def fuzz_world(
    make_model: ModelFactory,
    make_account: AccountFactory,
    upstream: FakeUpstream,
    anthropic_provider: Provider,
    anthropic_upstream: FakeAnthropic,
) -> World:
    make_model(GPT, upstream_models=("echo",), prompt="20", completion="55")
    make_model(CLAUDE, upstream_models=("claude",), route_provider=anthropic_provider)
    make_model(BROKEN_GPT, upstream_models=("fail-500", "malformed"))
    make_model(BROKEN_CLAUDE, upstream_models=("fail-529",), route_provider=anthropic_provider)
    make_model(
        EMBED,
        upstream_models=("embed-small",),
        prompt="50",
        completion="0",
        output_modalities=["embeddings"],
    )
    # outside the tier: a Pay-as-you-go key's 60 requests/min would answer most of the
    # generated requests 429 before their shape is looked at
    return World(make_account(FUZZ_CREDITS, ignore_tier=True), upstream, anthropic_upstream)
