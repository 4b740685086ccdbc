"""Fixtures for the input-shape tests: a funded account, one model behind the fake OpenAI
upstream and one behind the fake Anthropic upstream, an embeddings model, and the checks
that a refused request is 400 in its surface's shape and cost nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from catalog.models import Provider
from gateway.models import Generation
from tests.factories import Account, AccountFactory, ModelFactory
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.upstream import FakeUpstream
from tests.helpers import assert_error, assert_not_charged

START = 10_000_000
GPT, CLAUDE, EMBED = "test/gpt", "test/claude", "test/embed"


@dataclass
class World:
    account: Account
    upstream: FakeUpstream
    anthropic: FakeAnthropic

    def assert_untouched(self) -> None:
        """Nothing charged, held or recorded, and no upstream was called."""
        assert_not_charged(self.account, START)
        assert Generation.objects.count() == 0
        assert self.upstream.requests == []
        assert self.anthropic.requests == []


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


def assert_openai_invalid(resp: Any, param: str) -> dict[str, Any]:
    """400 ``invalid_parameter`` naming ``param`` in the OpenAI shape."""
    return assert_error(resp, 400, "invalid_parameter", param)


def assert_anthropic_invalid(resp: Any, param: str) -> dict[str, Any]:
    """400 in Anthropic's shape, ``invalid_request_error``, code ``invalid_parameter``, its
    message naming ``param`` (Anthropic's error object has no param field)."""
    assert resp.status_code == 400, resp.content
    assert resp["Content-Type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"type", "error"} and body["type"] == "error"
    error = body["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_parameter"
    assert error["message"].startswith(param), (error["message"], param)
    return error
