"""Fixtures for the surface tests: one model per route dialect (the OpenAI fake behind
``openai``, the Anthropic fake behind ``anthropic``) and a funded account. What the tests
share besides fixtures is in tests/surfaces/targets.py."""

from __future__ import annotations

import pytest

from catalog.models import Provider
from tests.factories import Account, AccountFactory, ModelFactory
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.upstream import FakeUpstream
from tests.surfaces.targets import CACHE_READ, CLAUDE, COMPLETION, GPT, PROMPT, START, Target


@pytest.fixture
def gpt(make_model: ModelFactory, upstream: FakeUpstream) -> Target:
    make_model(GPT, upstream_models=("echo",), prompt=PROMPT, completion=COMPLETION)
    return Target("openai", GPT, upstream, "echo:", "Fake")


@pytest.fixture
def claude(
    make_model: ModelFactory, anthropic_provider: Provider, anthropic_upstream: FakeAnthropic
) -> Target:
    make_model(
        CLAUDE,
        upstream_models=("claude",),
        prompt=PROMPT,
        completion=COMPLETION,
        cache_read=CACHE_READ,
        route_provider=anthropic_provider,
    )
    return Target("anthropic", CLAUDE, anthropic_upstream, "claude:", "Fake Anthropic")


@pytest.fixture(params=["openai", "anthropic"])
def target(request: pytest.FixtureRequest) -> Target:
    """Each test using it runs once per route dialect."""
    return request.getfixturevalue("gpt" if request.param == "openai" else "claude")


@pytest.fixture
def account(make_account: AccountFactory) -> Account:
    return make_account(START)
