"""What the input-shape tests share: the three public models, the ``World`` they run in (a
funded account and the two fake upstreams) with its "nothing happened" check, and the checks
that a refused request is 400 in its surface's shape. tests/validation/conftest.py makes the
rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.factories import Account
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.upstream import FakeUpstream
from tests.helpers import assert_error, assert_not_charged, assert_only_refusals

START = 10_000_000
GPT, CLAUDE, EMBED = "test/gpt", "test/claude", "test/embed"


@dataclass
class World:
    account: Account
    upstream: FakeUpstream
    anthropic: FakeAnthropic

    def assert_untouched(self) -> None:
        """Nothing charged, held or recorded but a refusal, and no upstream was called."""
        assert_not_charged(self.account, START)
        assert_only_refusals()
        assert self.upstream.requests == []
        assert self.anthropic.requests == []


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
