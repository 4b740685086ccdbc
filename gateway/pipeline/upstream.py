"""What one attempt sends upstream, and to which dialect: the surface's own body to a route
of the same wire format (a passthrough, so provider-specific fields survive), else the
canonical body, translated by the route's dialect, for the request's operation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from catalog.selectors import RouteInfo
from gateway.pipeline import tokens
from gateway.providers import (
    DIALECTS,
    NATIVE_DIALECTS,
    ChunkSource,
    Completion,
    Dialect,
    NativeDialect,
    ProviderError,
)

if TYPE_CHECKING:
    from gateway.pipeline.complete import Admission
    from gateway.pipeline.planning import Candidate


@dataclass(frozen=True, slots=True)
class Native:
    """A surface request in a dialect's own wire format. A route of that dialect receives it
    as it came (model renamed, and its completion cap the one held for), so
    provider-specific fields survive; any other route gets the canonical translation."""

    dialect: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def for_route(self, route: RouteInfo, max_tokens: int) -> dict[str, Any] | None:
        if route.dialect != self.dialect:
            return None
        body = {k: v for k, v in self.body.items() if k not in tokens.OUTPUT_CAPS}
        body["model"] = route.upstream_model
        body["max_tokens"] = max_tokens
        return body


def dialect_for(route: RouteInfo) -> Dialect:
    dialect = DIALECTS.get(route.dialect)
    if dialect is None:
        raise ProviderError(
            f"The {route.dialect} dialect is not available in this version",
            retryable=False,
            code="provider_not_configured",
        )
    return dialect


def upstream_body(admission: Admission, candidate: Candidate) -> dict[str, Any]:
    """The canonical body for a route: without the gateway's own fields, and with exactly one
    completion cap, the one held for (under the name the client used, else ``max_tokens``);
    every other field that could raise the output (``tokens.OUTPUT_CAPS``) is dropped."""
    body = {
        k: v
        for k, v in admission.body.items()
        if k not in tokens.GATEWAY_FIELDS and k not in tokens.OUTPUT_CAPS
    }
    if admission.operation != "embed":
        completion = admission.body.get("max_completion_tokens") is not None
        body["max_completion_tokens" if completion else "max_tokens"] = candidate.max_tokens
    return body


def _native_for(
    admission: Admission, candidate: Candidate, route: RouteInfo
) -> tuple[NativeDialect, dict[str, Any], dict[str, str]] | None:
    """The passthrough for this route (its dialect, body and headers), if it takes one."""
    native = admission.native
    if native is None:
        return None
    dialect = NATIVE_DIALECTS.get(route.dialect)
    body = native.for_route(route, candidate.max_tokens)
    if dialect is None or body is None:
        return None
    return dialect, body, native.headers


def upstream_complete(admission: Admission, candidate: Candidate, route: RouteInfo) -> Completion:
    """One non-streaming attempt on ``route``."""
    native = _native_for(admission, candidate, route)
    if native is not None:
        dialect, body, headers = native
        return dialect.complete_native(route, body, headers)
    operation = admission.operation
    if operation == "embed":
        return dialect_for(route).embed(route, upstream_body(admission, candidate))
    if operation == "complete":
        return dialect_for(route).complete(route, upstream_body(admission, candidate))
    raise ValueError(f"unknown operation {operation!r}")


def upstream_stream(admission: Admission, candidate: Candidate, route: RouteInfo) -> ChunkSource:
    """One streaming attempt on ``route``: its chunks, read as they arrive."""
    native = _native_for(admission, candidate, route)
    if native is not None:
        dialect, body, headers = native
        return dialect.stream_native(route, body, headers)
    return dialect_for(route).stream(route, upstream_body(admission, candidate))
