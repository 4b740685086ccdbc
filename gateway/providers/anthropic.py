"""The ``anthropic`` dialect: ``POST {base}/v1/messages`` with ``x-api-key`` and
``anthropic-version``; canonical requests are translated by
``gateway.providers.anthropic_format``."""

from __future__ import annotations

from typing import Any

import orjson

from catalog.selectors import RouteInfo
from gateway.providers.anthropic_format import (
    AnthropicChunker,
    from_anthropic,
    to_anthropic,
    usage_from_anthropic,
)
from gateway.providers.base import (
    ANTHROPIC_ERROR_STATUS,
    Completion,
    ProviderError,
    api_key_for,
    upstream_stream_error,
)
from gateway.providers.dialect import DialectBase, OperationUnsupported, StreamChunk
from gateway.providers.http import Response, json_of, post_json
from gateway.providers.openai import ChunkStream

ANTHROPIC_VERSION = "2023-06-01"


def _headers(key: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "anthropic-version": ANTHROPIC_VERSION}
    if key:
        headers["x-api-key"] = key
    headers.update(extra or {})
    return headers


class AnthropicDialect(DialectBase):
    """A native dialect: the Messages surface's body goes through as it came."""

    name = "anthropic"

    def post(
        self, route: RouteInfo, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> Response:
        key = api_key_for(route)
        return post_json(
            route.base_url + "/v1/messages",
            body,
            headers=_headers(key, headers),
            secret=key,
            user_url=route.is_user,
        )

    def complete(self, route: RouteInfo, body: dict[str, Any]) -> Completion:
        resp = self.post(route, to_anthropic(body, model=route.upstream_model))
        data = json_of(resp, require="content")
        usage = usage_from_anthropic(data.get("usage"))
        return Completion(
            body=from_anthropic(data),
            usage=usage,
            native_usage=data.get("usage") or {},
            usage_estimated=not data.get("usage"),
        )

    def complete_native(
        self, route: RouteInfo, body: dict[str, Any], headers: dict[str, str]
    ) -> Completion:
        """An Anthropic request passed through as it came (model already renamed; the surface
        sends only non-streaming bodies here, so nothing is added)."""
        data = json_of(self.post(route, body, headers), require="content")
        return Completion(
            body=from_anthropic(data),
            usage=usage_from_anthropic(data.get("usage")),
            native_usage=data.get("usage") or {},
            usage_estimated=not data.get("usage"),
            native=data,
        )

    def stream_native(
        self, route: RouteInfo, body: dict[str, Any], headers: dict[str, str]
    ) -> AnthropicStream:
        resp = self.post(route, {**body, "stream": True}, headers)
        return AnthropicStream(resp, secret=api_key_for(route), keep_native=True)

    def stream(self, route: RouteInfo, body: dict[str, Any]) -> AnthropicStream:
        payload = to_anthropic({**body, "stream": True}, model=route.upstream_model)
        resp = self.post(route, payload)
        return AnthropicStream(resp, secret=api_key_for(route))

    def embed(self, route: RouteInfo, body: dict[str, Any]) -> Completion:
        raise OperationUnsupported(self.name, "embeddings", "Anthropic offers no embeddings")


class AnthropicStream(ChunkStream):
    """Anthropic SSE events turned into canonical chunks as they arrive; ``keep_native``
    (a passthrough) keeps each event beside its canonical form, one chunk per event, so a
    surface of this wire format relays it. A stream that ends without ``message_stop`` was
    cut off: that ending is a ProviderError."""

    def __init__(self, resp: Response, *, secret: str, keep_native: bool = False) -> None:
        super().__init__(resp, secret=secret)
        self.is_finished = False  # set by message_stop
        self.keep_native = keep_native
        self.chunker = AnthropicChunker()

    def __next__(self) -> StreamChunk:
        for event in self.events:
            try:
                data = orjson.loads(event)
            except orjson.JSONDecodeError as exc:
                raise ProviderError(
                    "Upstream sent a malformed stream event", retryable=False
                ) from exc
            if not isinstance(data, dict):
                continue
            if data.get("type") == "message_stop":
                self.is_finished = True
            if data.get("type") == "error":
                err = data.get("error")
                err = err if isinstance(err, dict) else {}
                kind = str(err.get("type") or "")
                raise upstream_stream_error(
                    ANTHROPIC_ERROR_STATUS.get(kind),
                    str(err.get("message") or ""),
                    secret=self.secret,
                    retryable=kind == "overloaded_error",
                )
            canonical = self.chunker.feed(data)
            if self.keep_native:
                return StreamChunk({} if canonical is None else canonical, data)
            if canonical is not None:
                return StreamChunk(canonical)
        self.end_of_body()
