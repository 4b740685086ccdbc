"""Calls to the upstreams: a JSON POST over the shared keep-alive connections of
``gateway.providers.transport``, with every failure turned into a ProviderError."""

from __future__ import annotations

from typing import Any

import orjson
from django.conf import settings

from gateway.providers import transport
from gateway.providers.base import RETRYABLE_STATUSES, ProviderError
from gateway.providers.transport import ConnectFailed, Response, TransportError

__all__ = ["Response", "TransportError", "body_of", "error_message", "json_of", "post_json"]

USER_AGENT = "llm-gateway/0.1"


def post_json(url: str, body: dict[str, Any], *, headers: dict[str, str], stream: bool) -> Response:
    """POST a JSON body upstream. Transport failures and HTTP errors become ProviderError,
    retryable where another route may succeed. The body is left unread (``stream``) or
    read later through ``json_of``."""
    headers = {"User-Agent": USER_AGENT, **headers}
    try:
        resp = transport.post(
            url,
            orjson.dumps(body),
            headers,
            connect_timeout=settings.GATEWAY_UPSTREAM_CONNECT_TIMEOUT,
            read_timeout=settings.GATEWAY_UPSTREAM_READ_TIMEOUT,
        )
    except ConnectFailed as exc:
        raise ProviderError("Could not connect to the upstream", retryable=True) from exc
    except TimeoutError as exc:
        raise ProviderError("Upstream timed out", retryable=True) from exc
    except TransportError as exc:
        raise ProviderError(
            f"Upstream connection failed: {exc.__class__.__name__}", retryable=True
        ) from exc
    if resp.status >= 400:
        content = body_of(resp)
        message = error_message(content) or f"Upstream answered HTTP {resp.status}"
        raise ProviderError(
            message, status=resp.status, retryable=resp.status in RETRYABLE_STATUSES
        )
    return resp


def body_of(resp: Response) -> bytes:
    """The whole body (read now if the response was streamed)."""
    try:
        return resp.data
    except TimeoutError as exc:
        resp.close()
        raise ProviderError("Upstream timed out", status=resp.status, retryable=True) from exc
    except TransportError as exc:
        resp.close()
        raise ProviderError(
            f"Upstream body broke: {exc.__class__.__name__}", status=resp.status, retryable=True
        ) from exc


def json_of(resp: Response, *, require: str) -> dict[str, Any]:
    """The response's JSON object, which must hold a list under ``require``; anything else is
    a retryable ProviderError (another route may answer properly)."""
    try:
        data = orjson.loads(body_of(resp))
    except orjson.JSONDecodeError as exc:
        raise ProviderError(
            "Upstream sent a malformed body", status=resp.status, retryable=True
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get(require), list):
        raise ProviderError(
            f"Upstream sent a body without {require}", status=resp.status, retryable=True
        )
    return data


def error_message(content: bytes) -> str:
    """The human message of an upstream error body (OpenAI or Anthropic shape)."""
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError:
        return content[:200].decode(errors="replace")
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        return str(err.get("message") or "")[:500]
    if isinstance(err, str):
        return err[:500]
    return ""
