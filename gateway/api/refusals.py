"""What the request log keeps of a billed endpoint's refusal (``gateway.records.refusals``):
whose it is and what was asked.

The owner is the key whose secret matched: the authenticated key, or, for a key refused
while it was checked (403: API access off, an address outside its allowlist, a suspended
account), the key the headers present, its secret checked again. A 401 has no owner and
is not recorded.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson
from django.db import DatabaseError
from django.http import HttpResponse

from accounts.authentication import key_from_headers
from accounts.keys import key_matches, key_prefix
from accounts.models import ApiKey
from gateway.records.refusals import generation_refuse

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Owner:
    user_id: int
    api_key_id: int


def owner_of_key(key: ApiKey) -> Owner:
    return Owner(user_id=key.user_id, api_key_id=key.pk)


def owner_presented(meta: dict[str, Any]) -> Owner | None:
    """The owner of the key these headers present, if its secret matches (one query)."""
    full = key_from_headers(meta)
    prefix = key_prefix(full) if full else None
    if prefix is None:
        return None
    try:
        row = (
            ApiKey.objects.filter(prefix=prefix).values_list("pk", "user_id", "secret_hash").first()
        )
    except DatabaseError:  # the refusal stands; only its record is lost
        log.exception("the owner of a refused key could not be read")
        return None
    if row is None or not key_matches(full, row[2]):  # type: ignore[arg-type]
        return None
    return Owner(user_id=row[1], api_key_id=row[0])


def is_refusal(status: int) -> bool:
    """A 4xx the request log keeps: every one but 401 (no known owner)."""
    return 400 <= status < 500 and status != 401


def refusal_record(
    *,
    owner: Owner,
    request_id: str,
    surface: str,
    body: bytes | None,
    response: HttpResponse,
    started: float,
) -> None:
    """Record the refused request: its status and the error code its answer carries, the
    model and ``stream`` its body asked for, if it can be read."""
    asked = _asked(body)
    generation_refuse(
        request_id=request_id,
        user_id=owner.user_id,
        api_key_id=owner.api_key_id,
        surface=surface,
        model=asked[0],
        http_status=response.status_code,
        error_code=_error_code(response),
        latency_ms=int((time.monotonic() - started) * 1000),
        is_streamed=asked[1],
    )


def _asked(body: bytes | None) -> tuple[str, bool]:
    """(model, stream) of a JSON body, or ("", False) when it has none."""
    if not body:
        return "", False
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "", False
    if not isinstance(raw, dict):
        return "", False
    model = raw.get("model")
    return (model if isinstance(model, str) else ""), raw.get("stream") is True


def _error_code(response: HttpResponse) -> str:
    """The ``error.code`` of an error body (both the OpenAI and the Anthropic shape)."""
    try:
        error = orjson.loads(response.content).get("error") or {}
    except (orjson.JSONDecodeError, AttributeError):
        return ""
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else ""
