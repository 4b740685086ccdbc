"""The ``openai`` dialect: any OpenAI-compatible upstream, ``POST {base}/chat/completions``.

The canonical form is already this dialect's wire format, so the body passes through with
only the model name rewritten.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import requests

from billing.pricing import Usage
from catalog.selectors import RouteInfo
from gateway.providers.base import (
    RETRYABLE_STATUSES,
    Completion,
    ProviderError,
    api_key_for,
)
from gateway.providers.http import session_get, timeout
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


def _post(route: RouteInfo, path: str, body: dict[str, Any], *, stream: bool) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    key = api_key_for(route)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    url = route.base_url + path
    data = orjson.dumps(body)
    session = session_get()
    for attempt in range(2):
        try:
            resp = session.post(url, data=data, headers=headers, timeout=timeout(), stream=stream)
            break
        except requests.exceptions.Timeout as exc:
            raise ProviderError(
                f"Upstream timed out: {exc.__class__.__name__}", retryable=True
            ) from exc
        except requests.exceptions.ConnectionError as exc:
            # A pooled keep-alive connection may have been closed by the upstream; one
            # immediate retry on a fresh connection before calling the route failed.
            if attempt == 0:
                continue
            raise ProviderError("Could not connect to the upstream", retryable=True) from exc
    if resp.status_code >= 400:
        content = resp.content
        resp.close()
        message = _error_message(content) or f"Upstream answered HTTP {resp.status_code}"
        raise ProviderError(
            message, status=resp.status_code, retryable=resp.status_code in RETRYABLE_STATUSES
        )
    return resp


def _error_message(content: bytes) -> str:
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


class OpenAIDialect:
    def complete(self, route: RouteInfo, body: dict[str, Any]) -> Completion:
        resp = _post(
            route, "/chat/completions", {**body, "model": route.upstream_model}, stream=False
        )
        try:
            data = orjson.loads(resp.content)
        except orjson.JSONDecodeError as exc:
            raise ProviderError(
                "Upstream sent a malformed body", status=resp.status_code, retryable=True
            ) from exc
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise ProviderError(
                "Upstream sent a body without choices", status=resp.status_code, retryable=True
            )
        usage = usage_from_openai(data.get("usage"))
        return Completion(
            body=data,
            usage=usage or Usage(),
            native_usage=data.get("usage") or {},
            usage_estimated=usage is None,
        )

    def stream(self, route: RouteInfo, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        payload = {**body, "model": route.upstream_model, "stream": True}
        options = dict(payload.get("stream_options") or {})
        options["include_usage"] = True
        payload["stream_options"] = options
        resp = _post(route, "/chat/completions", payload, stream=True)
        try:
            for event in sse_events(resp):
                if event == "[DONE]":
                    return
                try:
                    chunk = orjson.loads(event)
                except orjson.JSONDecodeError as exc:
                    raise ProviderError(
                        "Upstream sent a malformed stream event", retryable=False
                    ) from exc
                if isinstance(chunk, dict):
                    yield chunk
        finally:
            resp.close()
