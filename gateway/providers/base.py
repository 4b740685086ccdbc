"""What provider clients return and raise: typed results at the boundary between the
outbound HTTP code and the money path."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from billing.pricing import Usage
from catalog.selectors import RouteInfo


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
    def __init__(self, provider: str, env_name: str) -> None:
        super().__init__(
            f"Provider {provider} is not configured ({env_name} is not set)",
            retryable=False,
            code="provider_not_configured",
        )


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


class Dialect(Protocol):
    def complete(self, route: RouteInfo, body: dict[str, Any]) -> Completion: ...

    def stream(self, route: RouteInfo, body: dict[str, Any]) -> Iterator[dict[str, Any]]: ...


def api_key_for(route: RouteInfo) -> str:
    """The upstream credential, read from the environment variable the provider names."""
    if not route.api_key_env:
        return ""
    value = os.environ.get(route.api_key_env, "")
    if not value:
        raise ProviderNotConfigured(route.provider_slug, route.api_key_env)
    return value
