"""What provider clients return and raise: typed results at the boundary between the
outbound HTTP code and the money path.

A ProviderError's ``message`` may be shown to the API client, so it is safe by
construction: text that came from an upstream is carried only for a 4xx answer (the
client's own request was refused, and the reason helps it), always with the provider's
credential redacted; a 5xx, an overload or a transport failure carries a generic message,
and its upstream text goes to the log (redacted too). Build upstream errors with
``upstream_status_error`` and ``upstream_stream_error``, never from raw upstream text.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from billing.pricing import Usage
from catalog.selectors import RouteInfo
from catalog.validators import api_key_env_refusal

log = logging.getLogger(__name__)

REDACTED = "[redacted]"
# A run of this many characters of the credential is redacted wherever it appears (an
# upstream may echo part of a key, or cut it at a length limit); shorter runs are noise.
REDACT_RUN = 8
# Upstream text is cut to this many characters before it goes anywhere.
MAX_UPSTREAM_TEXT = 500
# Anthropic's error types (an in-stream ``error`` event has no HTTP status of its own).
ANTHROPIC_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


class ProviderError(Exception):
    """An upstream failure. ``retryable`` failures (connect errors, timeouts, 408, 429, 5xx)
    may be retried on another route; the others end the request."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool,
        code: str = "provider_error",
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable
        self.code = code
        self.body = body


class ProviderNotConfigured(ProviderError):
    def __init__(self, provider: str, env_name: str, reason: str = "is not set") -> None:
        super().__init__(
            f"Provider {provider} is not configured ({env_name} {reason})",
            retryable=False,
            code="provider_not_configured",
        )


def secret_redact(text: str, secret: str) -> str:
    """``text`` with the credential taken out: the whole of it, and every run of
    ``REDACT_RUN`` or more of its consecutive characters, each replaced by ``REDACTED``."""
    if not secret or not text:
        return text
    text = text.replace(secret, REDACTED)
    if len(secret) < REDACT_RUN:
        return text
    pieces = {secret[i : i + REDACT_RUN] for i in range(len(secret) - REDACT_RUN + 1)}
    hidden = [False] * len(text)
    for i in range(len(text) - REDACT_RUN + 1):
        if text[i : i + REDACT_RUN] in pieces:
            hidden[i : i + REDACT_RUN] = [True] * REDACT_RUN
    if not any(hidden):
        return text
    out: list[str] = []
    for i, char in enumerate(text):
        if not hidden[i]:
            out.append(char)
        elif i == 0 or not hidden[i - 1]:
            out.append(REDACTED)
    return "".join(out)


def upstream_status_error(status: int, text: str, *, secret: str) -> ProviderError:
    """The error for an upstream's HTTP error answer ``status`` whose body said ``text``."""
    safe = secret_redact(text[:MAX_UPSTREAM_TEXT], secret)
    retryable = status in RETRYABLE_STATUSES
    if 400 <= status < 500 and safe:
        return ProviderError(safe, status=status, retryable=retryable)
    if safe:
        log.warning("upstream answered HTTP %s: %s", status, safe)
    return ProviderError(f"Upstream answered HTTP {status}", status=status, retryable=retryable)


def upstream_stream_error(
    status: int | None, text: str, *, secret: str, retryable: bool
) -> ProviderError:
    """The error for an ``error`` event inside an upstream stream; ``status`` is the HTTP
    status the event stands for, when it says (None: treated as a server error)."""
    safe = secret_redact(text[:MAX_UPSTREAM_TEXT], secret)
    if status is not None and 400 <= status < 500:
        return ProviderError(f"Upstream error: {safe}", retryable=retryable)
    log.warning("upstream stream error (status %s): %s", status, safe)
    return ProviderError("Upstream reported an error during the stream", retryable=retryable)


RETRYABLE_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})


@dataclass(slots=True)
class Completion:
    """A finished chat completion in the canonical (OpenAI chat) shape."""

    body: dict[str, Any]
    usage: Usage
    native_usage: dict[str, Any] = field(default_factory=dict)
    usage_estimated: bool = False
    native: dict[str, Any] | None = None  # the upstream's own body, on a native passthrough

    @property
    def finish_reason(self) -> str:
        choices = self.body.get("choices") or [{}]
        return str(choices[0].get("finish_reason") or "")


def api_key_for(route: RouteInfo) -> str:
    """The upstream credential, read from the environment variable the provider names. A
    name that may not hold a provider key (``catalog.validators``; a row written around the
    admin and the import) is never read: the provider is not configured."""
    if route.is_user:
        return route.api_key  # a user's own provider carries its (decrypted) key
    if not route.api_key_env:
        return ""
    refusal = api_key_env_refusal(route.api_key_env)
    if refusal is not None:
        log.error(
            "provider %s names %s as its key variable, which %s: not read",
            route.provider_slug,
            route.api_key_env,
            refusal,
        )
        raise ProviderNotConfigured(route.provider_slug, route.api_key_env, refusal)
    value = os.environ.get(route.api_key_env, "")
    if not value:
        raise ProviderNotConfigured(route.provider_slug, route.api_key_env)
    return value
