"""Shared helpers for the API tests: a JSON client for /v1, the error body, "nothing was
charged", the expected cost of a request, and per-key rate-limit counters."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import redis
from django.conf import settings
from django.test import Client

from billing.models import Hold, KeySpend, LedgerEntry
from billing.selectors import ledger_breaches
from gateway.models import Generation, RateCounter
from gateway.pipeline import ratelimit
from tests.factories import Account
from tests.fakes.upstream import reply_text, usage_for

MIN_CHARGE = 100  # BILLING_MIN_CHARGE's default, in credits


class ApiClient:
    """Django's test client speaking JSON to /v1."""

    def __init__(self) -> None:
        self.client = Client()

    def post(
        self,
        path: str,
        body: Any = None,
        *,
        account: Account | None = None,
        raw: bytes | None = None,
        **headers: str,
    ) -> Any:
        if account is not None:
            headers = {**account.headers, **headers}
        data = raw if raw is not None else json.dumps(body)
        return self.client.post(path, data=data, content_type="application/json", **headers)

    def get(self, path: str, *, account: Account | None = None, **headers: str) -> Any:
        if account is not None:
            headers = {**account.headers, **headers}
        return self.client.get(path, **headers)


def chat_body(model: str = "test/echo", text: str = "one two three", **extra: Any) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def fake_usage(body: dict[str, Any]) -> tuple[int, int]:
    """(prompt, completion) tokens the fake upstream reports for this request body."""
    usage = usage_for(body, reply_text(body))
    return usage["prompt_tokens"], usage["completion_tokens"]


def cost_of(
    *,
    prompt_tokens: int,
    completion_tokens: int,
    prompt: str,
    completion: str,
    request: str = "0",
    cached_tokens: int = 0,
    cache_read: str | None = None,
) -> int:
    """ceil(uncached x prompt + cached x cache_read + completion x completion + request),
    at least the minimum charge unless every price is zero. Prices in credits per token."""
    read = Decimal(prompt if cache_read is None else cache_read)
    raw = (
        (prompt_tokens - cached_tokens) * Decimal(prompt)
        + cached_tokens * read
        + completion_tokens * Decimal(completion)
        + Decimal(request)
    )
    if not any(Decimal(p) for p in (prompt, completion, request, str(read))):
        return 0
    return max(math.ceil(raw), MIN_CHARGE)


def assert_error(resp: Any, status: int, code: str, param: str | None = None) -> dict:
    """The response is the OpenAI-style error body with this status, code and param."""
    assert resp.status_code == status, resp.content
    assert resp["Content-Type"].startswith("application/json")
    assert resp["X-Request-Id"].startswith("gen-")
    body = resp.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "code", "param"}
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str) and error["type"]
    assert error["code"] == code
    assert error["param"] == param
    return error


def assert_not_charged(account: Account, balance: int) -> None:
    """Balance unchanged, nothing held, no usage entry, no open hold, no key spend, and the
    ledger invariants hold."""
    assert account.balance() == balance
    assert account.held() == 0
    credit = account.user.credit_account
    assert LedgerEntry.objects.filter(account=credit, kind=LedgerEntry.Kind.USAGE).count() == 0
    assert Hold.objects.filter(account=credit).count() == 0
    spends = KeySpend.objects.filter(api_key=account.key)
    assert [(s.spent, s.held) for s in spends] in ([], [(0, 0)])
    assert ledger_breaches() == []


def assert_only_refusals() -> None:
    """The request log holds nothing but refusals (status refused, cost 0, no ledger entry)."""
    rows = list(Generation.objects.values_list("request_id", "status", "cost", "ledger_entry_id"))
    assert all(row[1:] == ("refused", 0, None) for row in rows), rows


def rate_counters_clear(key_id: int) -> None:
    """Forget this key's rate-limit state (Redis outlives the test database, and key ids
    repeat from one test database to the next), here and in this process's fallback."""
    RateCounter.objects.filter(api_key_id=key_id).delete()
    ratelimit._local.pop(key_id, None)
    if settings.REDIS_URL:
        client = redis.Redis.from_url(settings.REDIS_URL)
        client.delete(ratelimit.state_name(key_id))
        client.close()
