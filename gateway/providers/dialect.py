"""What a provider dialect is: the operations the money path calls on it, the typed stream
chunk it yields, and the error for an operation it does not offer.

A dialect converts the canonical request (the OpenAI chat shape) to its provider's wire
format and back. Every operation is declared on ``Dialect``; a dialect that does not offer
one inherits ``DialectBase``'s answer, an ``OperationUnsupported`` error (non-retryable,
status 400), never an AttributeError. A ``NativeDialect`` also takes a surface's body in its
own wire format as it came (passthrough), so provider-specific fields survive.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from billing.pricing import Usage
from catalog.selectors import RouteInfo
from gateway.providers.base import Completion, ProviderError


@dataclass(slots=True)
class StreamChunk:
    """One streamed piece: its canonical form (an OpenAI chat-completion chunk; empty when
    the upstream event has no canonical counterpart, such as a ``ping``) and, on a native
    passthrough, the upstream's own event, which a surface of the same wire format relays."""

    canonical: dict[str, Any]
    native: dict[str, Any] | None = None


class ChunkSource(Protocol):
    """An upstream stream's chunks, read as they arrive. ``release()`` after its clean end
    gives its connection back to the pool; ``close()``, callable from any thread or
    greenlet, ends it at once."""

    def __iter__(self) -> ChunkSource: ...

    def __next__(self) -> StreamChunk: ...

    def release(self) -> None: ...

    def close(self) -> None: ...


class LocalStream:
    """The chunks of a stream made in this process (no connection to give back)."""

    def __init__(self, chunks: Generator[StreamChunk, None, None]) -> None:
        self.chunks = chunks

    def __iter__(self) -> LocalStream:
        return self

    def __next__(self) -> StreamChunk:
        return next(self.chunks)

    def release(self) -> None:
        pass

    def close(self) -> None:
        self.chunks.close()


@dataclass(frozen=True, slots=True)
class UpstreamTask:
    """A media task accepted by a provider: its id there, and what polling it needs."""

    upstream_id: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TaskPoll:
    """A media task's state at its provider; ``result`` and ``usage`` once it succeeded."""

    state: Literal["pending", "running", "succeeded", "failed"]
    result: dict[str, Any] | None = None
    usage: Usage | None = None
    error: str = ""


class OperationUnsupported(ProviderError):
    """The route's dialect does not offer this operation. Not retryable: the request is
    refused (400), as a provider refuses a request it cannot serve."""

    def __init__(self, dialect: str, operation: str, message: str = "") -> None:
        super().__init__(
            message or f"The {dialect} dialect does not support {operation}",
            status=400,
            retryable=False,
            code="operation_not_supported",
        )


class Dialect(Protocol):
    """The operations of a provider dialect. ``body`` is the canonical request for that
    operation, with the upstream model not yet set (``route.upstream_model`` names it)."""

    name: str

    def complete(self, route: RouteInfo, body: dict[str, Any]) -> Completion: ...

    def stream(self, route: RouteInfo, body: dict[str, Any]) -> ChunkSource: ...

    def embed(self, route: RouteInfo, body: dict[str, Any]) -> Completion: ...

    def image(self, route: RouteInfo, body: dict[str, Any]) -> Completion: ...

    def task_submit(self, route: RouteInfo, body: dict[str, Any]) -> UpstreamTask: ...

    def task_poll(self, route: RouteInfo, task: UpstreamTask) -> TaskPoll: ...


class NativeDialect(Dialect, Protocol):
    """A dialect that also takes a surface's body in its own wire format, as it came (model
    already renamed, the completion cap the one held for); ``headers`` are the client's
    headers meant for the provider (such as ``anthropic-beta``)."""

    def complete_native(
        self, route: RouteInfo, body: dict[str, Any], headers: dict[str, str]
    ) -> Completion: ...

    def stream_native(
        self, route: RouteInfo, body: dict[str, Any], headers: dict[str, str]
    ) -> ChunkSource: ...


class DialectBase:
    """Every operation refused with ``OperationUnsupported``; a dialect overrides the ones
    it offers."""

    name = ""

    def complete(self, route: RouteInfo, body: dict[str, Any]) -> Completion:
        raise OperationUnsupported(self.name, "chat completions")

    def stream(self, route: RouteInfo, body: dict[str, Any]) -> ChunkSource:
        raise OperationUnsupported(self.name, "streaming")

    def embed(self, route: RouteInfo, body: dict[str, Any]) -> Completion:
        raise OperationUnsupported(self.name, "embeddings")

    def image(self, route: RouteInfo, body: dict[str, Any]) -> Completion:
        raise OperationUnsupported(self.name, "image generation")

    def task_submit(self, route: RouteInfo, body: dict[str, Any]) -> UpstreamTask:
        raise OperationUnsupported(self.name, "media tasks")

    def task_poll(self, route: RouteInfo, task: UpstreamTask) -> TaskPoll:
        raise OperationUnsupported(self.name, "media tasks")
