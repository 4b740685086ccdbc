"""Calls to the upstreams: a JSON POST over the shared keep-alive connections of
``gateway.providers.transport``, with every failure turned into a ProviderError whose
message is safe to show (``gateway.providers.base``: the credential sent with the call is
redacted from any upstream text, and only a 4xx's text is kept)."""

from __future__ import annotations

from typing import Any

import orjson
from django.conf import settings

from config.errors import DomainError
from gateway.providers import transport
from gateway.providers.base import ProviderError, upstream_status_error
from gateway.providers.transport import ConnectFailed, Response, TransportError

__all__ = ["Response", "TransportError", "body_of", "error_message", "json_of", "post_json"]

USER_AGENT = "llm-gateway/0.1"


def post_json(
    url: str,
    body: dict[str, Any],
    *,
    headers: dict[str, str],
    secret: str,
    user_url: bool = False,
) -> Response:
    """POST a JSON body to a provider's URL; ``secret`` is the credential among ``headers``
    (redacted from any error text). Transport failures and HTTP errors become ProviderError,
    retryable where another route may succeed. The response body is left unread: a stream
    reads it as it arrives, anything else through ``json_of``. ``user_url``: a user's own
    provider, whose address is checked when connecting and the connection pinned to it
    (``transport.request(..., user_url=True)``) unless GATEWAY_SELF_ROUTE_ALLOW_PRIVATE."""
    headers = {"User-Agent": USER_AGENT, **headers}
    try:
        resp = transport.request(
            "POST",
            url,
            orjson.dumps(body),
            headers,
            connect_timeout=settings.GATEWAY_UPSTREAM_CONNECT_TIMEOUT,
            read_timeout=settings.GATEWAY_UPSTREAM_READ_TIMEOUT,
            user_url=user_url and not settings.GATEWAY_SELF_ROUTE_ALLOW_PRIVATE,
        )
    except DomainError as exc:
        # the guard refused the address the host resolves to now (DNS rebinding): nothing sent
        raise ProviderError(
            f"The provider's address is refused: {exc.message}",
            retryable=False,
            code="provider_not_configured",
        ) from exc
    except ValueError as exc:
        # Not an http(s) URL with a host (an empty base_url), or a header value http.client
        # refuses (a key with a newline). Its text may hold the key: never shown.
        raise ProviderError(
            "The provider is not configured correctly (its base URL or key is not usable)",
            retryable=False,
            code="provider_not_configured",
        ) from exc
    except ConnectFailed as exc:
        raise ProviderError("Could not connect to the upstream", retryable=True) from exc
    except TimeoutError as exc:
        raise ProviderError("Upstream timed out", retryable=True) from exc
    except TransportError as exc:
        raise ProviderError(
            f"Upstream connection failed: {exc.__class__.__name__}", retryable=True
        ) from exc
    if resp.status >= 400:
        raise upstream_status_error(resp.status, error_message(body_of(resp)), secret=secret)
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
    """The human message of an upstream error body (OpenAI or Anthropic shape), as the
    upstream wrote it: pass it through ``upstream_status_error`` before anyone sees it."""
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
