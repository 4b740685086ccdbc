"""What a provider dialect is: the operations the money path calls on it, the typed stream
chunk it yields, and the error for an operation it does not offer.

A dialect converts the canonical request (the OpenAI chat shape) to its provider's wire
format and back. Media (images, videos, music) has its own canonical body, the same for
every dialect: ``{"kind": "image" | "video" | "music", "prompt", "n", "size", "quality",
"duration", "resolution", "input_mode", "image_url"}`` (None where not given); its results
are ``MediaOutput`` values, inline bytes or a provider's link, read with ``output_open``.

Every operation is declared on ``Dialect``; a dialect that does not offer one inherits
``DialectBase``'s answer, an ``OperationUnsupported`` error (non-retryable, status 400),
never an AttributeError. A ``NativeDialect`` also takes a surface's body in its own wire
format as it came (passthrough), so provider-specific fields survive.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from billing.pricing import Usage
from catalog.selectors import RouteInfo
from gateway.providers import media_http
from gateway.providers.base import Completion, ProviderError, api_key_for
from gateway.providers.transport import Response


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
class MediaOutput:
    """One produced file: inline ``data`` (a decoded ``b64_json``, a locally made file), or
    the provider's ``url`` to fetch it from (through ``output_open``; such links expire).
    ``authenticated``: fetching ``url`` needs the provider's key (OpenAI's video content).
    ``content_type`` is "" when the provider does not say (the storage sniffs it)."""

    url: str = ""
    data: bytes | None = None
    content_type: str = ""
    authenticated: bool = False


@dataclass(frozen=True, slots=True)
class MediaResult:
    """A synchronous media answer: its outputs, what they count as (``images`` at least the
    number of outputs) and the provider's body for the record, large inline data left out."""

    outputs: tuple[MediaOutput, ...]
    usage: Usage
    native: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TaskPoll:
    """A media task's state at its provider: its ``outputs`` and ``usage`` once it
    succeeded, its ``error`` (safe to show) and ``error_code`` once it failed: ``cancelled``
    when the provider reports it cancelled, ``no_output`` when it finished with nothing,
    else the provider's own code or ``provider_error``."""

    state: Literal["pending", "running", "succeeded", "failed"]
    outputs: tuple[MediaOutput, ...] = ()
    usage: Usage | None = None
    error: str = ""
    error_code: str = ""


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

    def image(self, route: RouteInfo, body: dict[str, Any]) -> MediaResult: ...

    def task_submit(self, route: RouteInfo, body: dict[str, Any]) -> UpstreamTask: ...

    def task_poll(self, route: RouteInfo, task: UpstreamTask) -> TaskPoll: ...

    def task_cancel(self, route: RouteInfo, task: UpstreamTask) -> None: ...

    def output_open(self, route: RouteInfo, output: MediaOutput) -> Response: ...


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
    """Every operation refused with ``OperationUnsupported``, except ``task_cancel`` (best
    effort: nothing to do) and ``output_open`` (a GET of the output's link); a dialect
    overrides the ones it offers."""

    name = ""

    def complete(self, route: RouteInfo, body: dict[str, Any]) -> Completion:
        raise OperationUnsupported(self.name, "chat completions")

    def stream(self, route: RouteInfo, body: dict[str, Any]) -> ChunkSource:
        raise OperationUnsupported(self.name, "streaming")

    def embed(self, route: RouteInfo, body: dict[str, Any]) -> Completion:
        raise OperationUnsupported(self.name, "embeddings")

    def image(self, route: RouteInfo, body: dict[str, Any]) -> MediaResult:
        raise OperationUnsupported(self.name, "image generation")

    def task_submit(self, route: RouteInfo, body: dict[str, Any]) -> UpstreamTask:
        raise OperationUnsupported(self.name, "media tasks")

    def task_poll(self, route: RouteInfo, task: UpstreamTask) -> TaskPoll:
        raise OperationUnsupported(self.name, "media tasks")

    def task_cancel(self, route: RouteInfo, task: UpstreamTask) -> None:
        """Ask the provider to stop the task; best effort, so by default nothing is sent."""
        return None

    def output_open(self, route: RouteInfo, output: MediaOutput) -> Response:
        """GET the output's link with its body left unread (read it with ``read1`` or
        ``data``; ``close()`` when done). The link is the provider's, not a user's; an
        ``authenticated`` one is sent with ``output_headers(route)``, to the link's own origin
        only (``media_http.get`` follows up to three redirects). HTTP errors and transport
        failures raise ProviderError (retryable where a later try may succeed)."""
        if not output.url:
            raise ProviderError("The output has no link to fetch", retryable=False)
        headers: dict[str, str] = {}
        secret = ""
        if output.authenticated:
            secret = api_key_for(route)
            headers = self.output_headers(route, secret)
        return media_http.get(output.url, headers=headers, secret=secret)

    def output_headers(self, route: RouteInfo, key: str) -> dict[str, str]:
        """The headers that authenticate a GET of an ``authenticated`` output."""
        return {"Authorization": f"Bearer {key}"} if key else {}
