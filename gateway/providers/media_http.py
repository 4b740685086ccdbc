"""Calls to media providers: JSON requests of any method (a task's poll is a GET) and the
GET of an output's bytes, over ``gateway.providers.transport``, with every failure turned
into a ProviderError whose message is safe to show, as ``gateway.providers.http`` does for
its POSTs: the credential is redacted from upstream text, and only a 4xx's text is kept.
5xx, 408 and 429 answers and transport failures are retryable; other 4xx are not."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin, urlsplit

import orjson
from django.conf import settings

from gateway.providers import transport
from gateway.providers.base import ProviderError, upstream_status_error
from gateway.providers.http import USER_AGENT, body_of, error_message
from gateway.providers.transport import ConnectFailed, Response, TransportError

MAX_REDIRECTS = 3
REDIRECTS = frozenset({301, 302, 303, 307, 308})


def send(
    method: str,
    url: str,
    body: dict[str, Any] | None,
    *,
    headers: dict[str, str],
    secret: str,
    redirects: bool = False,
) -> Response:
    """Send ``method`` to a provider's URL with ``body`` as JSON (None: no body); the
    response body is left unread. ``secret`` is the credential among ``headers``. An answer
    of 300 or more is an error, but with ``redirects`` a redirect is returned (``get``
    follows it)."""
    headers = {"User-Agent": USER_AGENT, **headers}
    payload = None
    if body is not None:
        payload = orjson.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    try:
        resp = transport.request(
            method,
            url,
            payload,
            headers,
            connect_timeout=settings.GATEWAY_UPSTREAM_CONNECT_TIMEOUT,
            read_timeout=settings.GATEWAY_UPSTREAM_READ_TIMEOUT,
        )
    except ValueError as exc:
        # an empty or unusable base_url, or a key http.client refuses: its text may hold it
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
    if resp.status >= 300 and not (redirects and resp.status in REDIRECTS):
        raise upstream_status_error(resp.status, error_text(body_of(resp)), secret=secret)
    return resp


def error_text(content: bytes) -> str:
    """The human message of an error body: OpenAI's or Anthropic's ``error``, or Replicate's
    ``detail`` (and ``title``), as the upstream wrote it (``upstream_status_error`` makes it
    safe to show)."""
    message = error_message(content)
    if message:
        return message
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError:
        return ""
    if isinstance(data, dict):
        parts = [str(data[k]) for k in ("title", "detail") if isinstance(data.get(k), str)]
        return ": ".join(parts)[:500]
    return ""


def request_json(
    method: str,
    url: str,
    body: dict[str, Any] | None,
    *,
    headers: dict[str, str],
    secret: str,
    require: str = "",
) -> dict[str, Any]:
    """The JSON object a provider answered, which must hold ``require`` when named; a body
    that is not one is a retryable ProviderError (a later try may read a proper one)."""
    resp = send(method, url, body, headers=headers, secret=secret)
    try:
        data = orjson.loads(body_of(resp))
    except orjson.JSONDecodeError as exc:
        raise ProviderError(
            "Upstream sent a malformed body", status=resp.status, retryable=True
        ) from exc
    if not isinstance(data, dict) or (require and data.get(require) in (None, "")):
        raise ProviderError(
            f"Upstream sent a body without {require or 'an object'}",
            status=resp.status,
            retryable=True,
        )
    return data


def get(url: str, *, headers: dict[str, str], secret: str) -> Response:
    """GET an output's link (a provider's, never a user's); the body is left unread. Up to
    ``MAX_REDIRECTS`` redirects are followed (storage links often sit behind one); the
    credential goes only to the link's own origin, never to where a redirect points
    elsewhere."""
    origin = _origin(url)
    for _ in range(MAX_REDIRECTS + 1):
        if not url.lower().startswith(("http://", "https://")):
            raise ProviderError("The output's link is not an http(s) URL", retryable=False)
        sent = headers if _origin(url) == origin else {}
        resp = send("GET", url, None, headers=sent, secret=secret, redirects=True)
        if resp.status not in REDIRECTS:
            return resp
        location = resp.header("Location") or ""
        body_of(resp)  # read to the end: the connection goes back to its pool
        if not location:
            raise ProviderError(
                f"Upstream answered HTTP {resp.status} without a Location",
                status=resp.status,
                retryable=False,
            )
        url = urljoin(url, location)
    raise ProviderError("The output's link redirected too many times", retryable=False)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.scheme.lower(), (parts.hostname or "").lower(), port
