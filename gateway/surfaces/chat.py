"""The OpenAI chat-completions surface: the canonical form itself, so a response is the
upstream body with the gateway's id, the public model id, the provider and the cost."""

from __future__ import annotations

import time
from typing import Any

import orjson

from config.errors import ApiError
from gateway.providers import Completion, StreamChunk
from gateway.records.outcome import Outcome

FINISH_REASONS = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "eos": "stop",
    "length": "length",
    "max_tokens": "length",
    "model_length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "tool_use": "tool_calls",
    "content_filter": "content_filter",
    "refusal": "content_filter",
    "safety": "content_filter",
    "error": "error",
}


def finish_reason_normalise(native: str | None) -> str | None:
    if native is None:
        return None
    return FINISH_REASONS.get(native, "stop")


def usage_body(outcome: Outcome, cost: int) -> dict[str, Any]:
    usage = outcome.usage
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "cost": cost,
    }


def chat_response(result: Completion, outcome: Outcome, cost: int) -> dict[str, Any]:
    body = result.body
    body["id"] = outcome.request_id
    body["object"] = "chat.completion"
    body["model"] = outcome.model
    body["provider"] = outcome.provider
    body.setdefault("system_fingerprint", None)
    for choice in body.get("choices") or []:
        if isinstance(choice, dict):
            native = choice.get("finish_reason")
            choice["native_finish_reason"] = native
            choice["finish_reason"] = finish_reason_normalise(native)
    body["usage"] = usage_body(outcome, cost)
    return body


def sse(data: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


class ChatStreamEncoder:
    """``chat.completion.chunk`` events with the gateway's id, the public model id and the
    provider; the upstream's usage chunk is replaced by one carrying the cost; ``[DONE]``.
    A failed stream ends with its error chunk, as OpenAI ends one (no usage chunk, no
    ``[DONE]``: the SDK raises on the error; the charge is on the Generation record)."""

    object_name = "chat.completion.chunk"

    def __init__(self) -> None:
        self.created = int(time.time())
        self.failed = False  # the error chunk went out: it is the stream's last event

    def _base(self, outcome: Outcome) -> dict[str, Any]:
        return {
            "id": outcome.request_id,
            "object": self.object_name,
            "created": self.created,
            "model": outcome.model,
            "provider": outcome.provider,
        }

    def begin(self, outcome: Outcome) -> bytes:
        return b""

    def chunk(self, chunk: StreamChunk, outcome: Outcome) -> bytes:
        canonical = chunk.canonical
        choices = canonical.get("choices") or []
        if not choices:
            return b""  # the upstream's usage chunk: replaced by the closing one
        out = {**canonical, **self._base(outcome)}
        out.pop("usage", None)
        out["choices"] = [self._choice(c) for c in choices]
        return sse(out)

    def _choice(self, choice: dict[str, Any]) -> dict[str, Any]:
        native = choice.get("finish_reason")
        if native is None:
            return choice
        return {
            **choice,
            "finish_reason": finish_reason_normalise(native),
            "native_finish_reason": native,
        }

    def error(self, err: ApiError, outcome: Outcome) -> bytes:
        self.failed = True
        return sse(
            {
                **self._base(outcome),
                "error": {"message": err.message, "code": err.code, "type": err.error_type},
                "choices": [
                    {
                        "index": 0,
                        "delta": {},
                        "finish_reason": "error",
                        "native_finish_reason": "error",
                    }
                ],
            }
        )

    def end(self, outcome: Outcome, cost: int, tally: object) -> bytes:
        if self.failed:
            return b""
        return (
            sse({**self._base(outcome), "choices": [], "usage": usage_body(outcome, cost)})
            + b"data: [DONE]\n\n"
        )
