"""What the surface tests share: the prices and the two public models, a ``Target`` (a
model and the fake upstream behind its one route), the expected cost, the two official SDKs
pointed at a live server, and the exact-charge check. tests/surfaces/conftest.py makes the
rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anthropic
import openai

from gateway.models import Generation
from tests.factories import Account
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.upstream import FakeUpstream
from tests.helpers import cost_of
from tests.sse import ledger_verified

START = 10_000_000
PROMPT, COMPLETION, CACHE_READ = "20", "55", "2"
GPT, CLAUDE = "openai/gpt-test", "anthropic/claude-test"


@dataclass
class Target:
    """A public model and the fake upstream behind its one route."""

    dialect: str
    model: str
    upstream: FakeUpstream | FakeAnthropic
    prefix: str  # the fake's reply starts with it: "echo:" or "claude:"
    provider: str

    def reply(self, text: str) -> str:
        return f"{self.prefix} {text}"

    def sent(self) -> dict[str, Any]:
        """The body of the last request the fake received."""
        return self.upstream.requests[-1]["body"]

    def prompt_tokens(self, *, turns: int, system: bool) -> int:
        """Both fakes count 10 a message and 10 for a system prompt (a message to the
        OpenAI fake, the ``system`` field to the Anthropic one)."""
        return 10 * turns + (10 if system else 0)


def cost(prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> int:
    return cost_of(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cached_tokens=cached_tokens,
        prompt=PROMPT,
        completion=COMPLETION,
        cache_read=CACHE_READ,
    )


def claude_sdk(live_server: Any, secret: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=live_server.url, api_key=secret, max_retries=0)


def openai_sdk(live_server: Any, secret: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=live_server.url + "/v1", api_key=secret, max_retries=0)


def assert_charged(
    account: Account, request_id: str, expected: int, surface: str, *, status: str = "success"
) -> Generation:
    """The account paid exactly ``expected`` once: one Generation of this surface with that
    cost, no hold left, and the ledger agrees with the balance."""
    assert account.balance() == START - expected
    assert account.held() == 0
    generation = Generation.objects.exclude(status="refused").get()
    assert generation.request_id == request_id
    assert (generation.surface, generation.status, generation.cost) == (surface, status, expected)
    assert generation.ledger_entry is not None
    assert generation.ledger_entry.amount == -expected
    ledger_verified(account)
    return generation
