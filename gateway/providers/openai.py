"""The ``openai`` dialect: any OpenAI-compatible upstream, ``POST {base}/chat/completions``.

The canonical form is already this dialect's wire format, so the body passes through with
only the model name rewritten. Images and videos: ``gateway.providers.openai_media``.
"""

from __future__ import annotations

from typing import Any

import orjson

from billing.pricing import Usage
from catalog.selectors import RouteInfo
from gateway.providers import openai_media
from gateway.providers.base import (
    Completion,
    ProviderError,
    api_key_for,
    upstream_stream_error,
)
from gateway.providers.dialect import (
    DialectBase,
    MediaResult,
    StreamChunk,
    TaskPoll,
    UpstreamTask,
)
from gateway.providers.http import Response, json_of, post_json
from gateway.providers.sse import sse_events


def usage_from_openai(raw: dict[str, Any] | None) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    prompt_details = raw.get("prompt_tokens_details") or {}
    completion_details = raw.get("completion_tokens_details") or {}
    try:
        return Usage(
            prompt_tokens=int(raw.get("prompt_tokens") or 0),
            completion_tokens=int(raw.get("completion_tokens") or 0),
            cached_tokens=int(prompt_details.get("cached_tokens") or 0),
            reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0),
        )
    except (TypeError, ValueError):
        return None


def _post(route: RouteInfo, path: str, body: dict[str, Any]) -> Response:
    headers = {"Content-Type": "application/json"}
    key = api_key_for(route)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return post_json(
        route.base_url + path, body, headers=headers, secret=key, user_url=route.is_user
    )


def _completion(data: dict[str, Any]) -> Completion:
    usage = usage_from_openai(data.get("usage"))
    return Completion(
        body=data,
        usage=usage or Usage(),
        native_usage=data.get("usage") or {},
        usage_estimated=usage is None,
    )


class OpenAIDialect(DialectBase):
    name = "openai"

    def complete(self, route: RouteInfo, body: dict[str, Any]) -> Completion:
        payload = {**body, "model": route.upstream_model}
        return _completion(json_of(_post(route, "/chat/completions", payload), require="choices"))

    def embed(self, route: RouteInfo, body: dict[str, Any]) -> Completion:
        payload = {**body, "model": route.upstream_model}
        return _completion(json_of(_post(route, "/embeddings", payload), require="data"))

    def stream(self, route: RouteInfo, body: dict[str, Any]) -> ChunkStream:
        payload = {**body, "model": route.upstream_model, "stream": True}
        options = dict(payload.get("stream_options") or {})
        options["include_usage"] = True
        payload["stream_options"] = options
        resp = _post(route, "/chat/completions", payload)
        return ChunkStream(resp, secret=api_key_for(route))

    def image(self, route: RouteInfo, body: dict[str, Any]) -> MediaResult:
        return openai_media.image(route, body)

    def task_submit(self, route: RouteInfo, body: dict[str, Any]) -> UpstreamTask:
        return openai_media.video_submit(route, body)

    def task_poll(self, route: RouteInfo, task: UpstreamTask) -> TaskPoll:
        return openai_media.video_poll(route, task)


def _stream_error(err: Any, secret: str) -> ProviderError:
    """An OpenAI-style in-stream error: its ``code`` (or ``status``) is an HTTP status when
    the upstream gives one (OpenRouter does); anything else counts as a server error."""
    if not isinstance(err, dict):
        return upstream_stream_error(None, str(err), secret=secret, retryable=False)
    status = next((v for v in (err.get("code"), err.get("status")) if isinstance(v, int)), None)
    return upstream_stream_error(
        status, str(err.get("message") or ""), secret=secret, retryable=False
    )


class ChunkStream:
    """Chat chunks (``StreamChunk``, canonical only) from an upstream SSE response.

    A stream that ends with neither ``[DONE]`` nor a finish_reason was cut off (a
    close-delimited body looks complete to the HTTP layer): that ending is a ProviderError.
    After a clean end ``release()`` reads what is left of the body and gives the connection
    back to the pool, so the next request skips a new connection (and TLS handshake).
    ``close()`` may be called from another thread or greenlet at any time: it shuts the
    socket down, which ends a blocked read at once and tells the upstream the client is gone.
    ``secret`` is the credential the call was made with, redacted from in-stream errors.
    """

    def __init__(self, resp: Response, *, secret: str) -> None:
        self.resp = resp
        self.secret = secret
        self.events = sse_events(resp)
        self.is_finished = False  # the upstream said it was done
        self.is_done = False  # ... and nothing more will be read
        self.is_closed = False
        self.is_released = False

    def __iter__(self) -> ChunkStream:
        return self

    def __next__(self) -> StreamChunk:
        for event in self.events:
            if event == "[DONE]":
                self.is_finished = self.is_done = True
                raise StopIteration
            try:
                chunk = orjson.loads(event)
            except orjson.JSONDecodeError as exc:
                raise ProviderError(
                    "Upstream sent a malformed stream event", retryable=False
                ) from exc
            if isinstance(chunk, dict):
                if "error" in chunk and not chunk.get("choices"):
                    raise _stream_error(chunk["error"], self.secret)
                choices = chunk.get("choices") or ()
                if any(isinstance(c, dict) and c.get("finish_reason") for c in choices):
                    self.is_finished = True
                return StreamChunk(chunk)
        self.end_of_body()
        raise AssertionError("unreachable")  # pragma: no cover

    def end_of_body(self) -> None:
        """The body ended: a clean end stops the iteration, a cut one is an error."""
        if not self.is_finished:
            self.close()
            raise ProviderError("Upstream closed the stream before it finished", retryable=True)
        self.is_done = True
        raise StopIteration

    def release(self) -> None:
        if self.is_closed or self.is_released:
            return
        if not self.is_done:
            self.close()
            return
        try:
            self.resp.drain()
            if not self.is_closed:
                self.resp.release()
                self.is_released = True
        except Exception:  # noqa: BLE001 - a connection that cannot be reused is dropped
            self.close()

    def close(self) -> None:
        if self.is_released:
            return
        self.is_closed = True
        self.resp.close()
