"""The ``sandbox`` dialect: deterministic local replies, no network, for trying the product
end to end on a fresh machine. The reply repeats the last user message back; images,
videos and music are files made here (``gateway.providers.sandbox_media``)."""

from __future__ import annotations

import base64
import hashlib
import struct
import time
from collections.abc import Generator
from typing import Any

from billing.pricing import Usage
from catalog.selectors import RouteInfo
from gateway.pipeline import tokens
from gateway.providers import sandbox_media
from gateway.providers.base import Completion
from gateway.providers.dialect import (
    ChunkSource,
    DialectBase,
    LocalStream,
    MediaResult,
    StreamChunk,
    TaskPoll,
    UpstreamTask,
)


def _reply(body: dict[str, Any]) -> str:
    messages = body.get("messages") or []
    last = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    text = tokens.message_text([last]) if last else ""
    return f"Sandbox reply: {text}" if text else "Sandbox reply."


def _limit(text: str, body: dict[str, Any]) -> tuple[str, str]:
    cap = body.get("max_completion_tokens") or body.get("max_tokens")
    words = text.split(" ")
    if cap and len(words) > int(cap):
        return " ".join(words[: int(cap)]), "length"
    return text, "stop"


def _usage(body: dict[str, Any], text: str) -> Usage:
    prompt = tokens.estimate(tokens.message_text(body.get("messages") or []))
    return Usage(prompt_tokens=prompt, completion_tokens=len(text.split(" ")))


def _vector(text: str, dimensions: int) -> list[float]:
    seed = hashlib.sha256(text.encode()).digest()
    while len(seed) < dimensions:
        seed += hashlib.sha256(seed).digest()
    return [round(b / 127.5 - 1.0, 6) for b in seed[:dimensions]]


class SandboxDialect(DialectBase):
    name = "sandbox"

    def embed(self, route: RouteInfo, body: dict[str, Any]) -> Completion:
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        dimensions = int(body.get("dimensions") or 8)
        data = []
        for i, item in enumerate(inputs):
            vector = _vector(str(item), dimensions)
            if body.get("encoding_format") == "base64":
                encoded: Any = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
            else:
                encoded = vector
            data.append({"object": "embedding", "index": i, "embedding": encoded})
        prompt = sum(tokens.estimate(str(i)) for i in inputs)
        usage = {"prompt_tokens": prompt, "total_tokens": prompt}
        return Completion(
            body={"object": "list", "data": data, "model": route.upstream_model, "usage": usage},
            usage=Usage(prompt_tokens=prompt),
            native_usage=usage,
        )

    def complete(self, route: RouteInfo, body: dict[str, Any]) -> Completion:
        text, finish = _limit(_reply(body), body)
        usage = _usage(body, text)
        data = {
            "id": "sandbox",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": route.upstream_model,
            "system_fingerprint": "sandbox",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": finish,
                    "logprobs": None,
                    "message": {"role": "assistant", "content": text},
                }
            ],
            "usage": {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens,
            },
        }
        return Completion(body=data, usage=usage, native_usage=dict(data["usage"]))

    def stream(self, route: RouteInfo, body: dict[str, Any]) -> ChunkSource:
        return LocalStream(_chunks(route, body))

    def image(self, route: RouteInfo, body: dict[str, Any]) -> MediaResult:
        return sandbox_media.image(body)

    def task_submit(self, route: RouteInfo, body: dict[str, Any]) -> UpstreamTask:
        return sandbox_media.task_submit(body)

    def task_poll(self, route: RouteInfo, task: UpstreamTask) -> TaskPoll:
        return sandbox_media.task_poll(task)

    def task_cancel(self, route: RouteInfo, task: UpstreamTask) -> None:
        sandbox_media.task_forget(task)


def _chunks(route: RouteInfo, body: dict[str, Any]) -> Generator[StreamChunk, None, None]:
    """The reply, a word per chunk, then its finish and its usage."""
    text, finish = _limit(_reply(body), body)
    usage = _usage(body, text)
    base = {
        "id": "sandbox",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": route.upstream_model,
    }
    yield StreamChunk(
        {
            **base,
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": ""},
                    "finish_reason": None,
                }
            ],
        }
    )
    words = text.split(" ")
    for i, word in enumerate(words):
        piece = word if i == 0 else " " + word
        yield StreamChunk(
            {
                **base,
                "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
            }
        )
    yield StreamChunk({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    yield StreamChunk(
        {
            **base,
            "choices": [],
            "usage": {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens,
            },
        }
    )
