"""Fixtures for the input-shape tests: a funded account, one model behind the fake OpenAI
upstream and one behind the fake Anthropic upstream, and an embeddings model. The checks the
tests share are in tests/validation/world.py."""

from __future__ import annotations

import pytest

from catalog.models import Provider
from tests.factories import AccountFactory, ModelFactory
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.upstream import FakeUpstream
from tests.validation.world import CLAUDE, EMBED, GPT, START, World


@pytest.fixture
def world(
    make_model: ModelFactory,
    make_account: AccountFactory,
    upstream: FakeUpstream,
    anthropic_provider: Provider,
    anthropic_upstream: FakeAnthropic,
) -> World:
    make_model(GPT, upstream_models=("echo",), prompt="20", completion="55")
    make_model(CLAUDE, upstream_models=("claude",), route_provider=anthropic_provider)
    make_model(
        EMBED,
        upstream_models=("embed-small",),
        prompt="50",
        completion="0",
        output_modalities=["embeddings"],
    )
    return World(make_account(START), upstream, anthropic_upstream)
