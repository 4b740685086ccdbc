"""Helpers for the streaming and chat API tests: reading raw server-sent events, the SDK
client, the estimate rule of the stream driver, and the ledger check after a request."""

from __future__ import annotations

import importlib.util
import io
import json
import math
from typing import Any

import openai
from django.core.management import call_command
from django.db.models import Sum

from billing.models import Hold, LedgerEntry
from tests.factories import Account
from tests.helpers import ApiClient

KEEPALIVE = b": keep-alive"


def sdk(live_server: Any, secret: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=live_server.url + "/v1", api_key=secret, max_retries=0)


def stream_raw(api: ApiClient, body: dict[str, Any], account: Account) -> tuple[Any, bytes]:
    """POST a streaming chat request through Django's test client; (response, whole body)."""
    resp = api.post("/v1/chat/completions", {**body, "stream": True}, account=account)
    if not resp.streaming:
        return resp, resp.content
    return resp, b"".join(resp.streaming_content)


def sse_payloads(raw: bytes) -> list[str]:
    """The ``data:`` payloads of a raw event stream, in order."""
    return [
        line[len(b"data: ") :].decode() for line in raw.split(b"\n") if line.startswith(b"data: ")
    ]


def sse_chunks(raw: bytes) -> list[dict[str, Any]]:
    """The JSON chunks of a raw event stream (``[DONE]`` left out)."""
    return [json.loads(p) for p in sse_payloads(raw) if p != "[DONE]"]


def chunk_text(chunk: dict[str, Any]) -> str:
    return "".join(
        (c.get("delta") or {}).get("content") or c.get("text") or ""
        for c in chunk.get("choices") or []
    )


def content_chunks(chunks: list[dict[str, Any]]) -> list[str]:
    """The non-empty text pieces the client received, one per content chunk."""
    return [t for t in (chunk_text(c) for c in chunks) if t]


def estimate(text: str) -> int:
    """The gateway's guess without a tokenizer: ceil(UTF-8 bytes / 4), at least 1."""
    return max(1, math.ceil(len(text.encode()) / 4)) if text else 0


def estimated_completion(pieces: list[str]) -> int:
    """Completion tokens billed for relayed text: max(content chunks, ceil(bytes / 4))."""
    return max(len(pieces), math.ceil(len("".join(pieces).encode()) / 4))


def ledger_verified(account: Account) -> None:
    """Balance == sum of the ledger, nothing held, no open hold; and ``verify_ledger``
    passes where the command exists."""
    credit = account.user.credit_account
    credit.refresh_from_db()
    total = LedgerEntry.objects.filter(account=credit).aggregate(s=Sum("amount"))["s"]
    assert credit.balance == total
    assert credit.held == 0
    assert Hold.objects.filter(account=credit).count() == 0
    if importlib.util.find_spec("gateway.management.commands.verify_ledger") is not None:
        call_command("verify_ledger", stdout=io.StringIO(), stderr=io.StringIO())
