"""The Anthropic Messages surface (``POST /v1/messages``): Anthropic's request, response,
stream events and error shape, over the same canonical money path as chat completions."""

from __future__ import annotations

from typing import Any

import orjson

from config.errors import ApiError
from gateway.pipeline.tokens import GATEWAY_FIELDS
from gateway.pipeline.upstream import Native
from gateway.providers import StreamChunk
from gateway.providers.anthropic_format import FINISH_TO_STOP, STOP_TO_FINISH
from gateway.records.outcome import Outcome
from gateway.surfaces.messages_inbound import anthropic_usage, request_to_canonical
from gateway.surfaces.validation.messages import messages_validate


def event(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **data}) + b"\n\n"


def native_request(body: dict[str, Any], meta: dict[str, Any]) -> Native:
    """The request as an Anthropic upstream should see it (gateway-only fields removed,
    ``anthropic-beta`` passed on)."""
    headers = {}
    if meta.get("HTTP_ANTHROPIC_BETA"):
        headers["anthropic-beta"] = meta["HTTP_ANTHROPIC_BETA"]
    return Native("anthropic", {k: v for k, v in body.items() if k not in GATEWAY_FIELDS}, headers)


def native_response(data: dict[str, Any], outcome: Outcome, cost: int) -> dict[str, Any]:
    usage = {**(data.get("usage") or {}), "cost": cost}
    return {
        **data,
        "id": outcome.request_id,
        "model": outcome.model,
        "usage": usage,
        "provider": outcome.provider,
    }


def messages_to_canonical(body: Any) -> dict[str, Any]:
    """Check an Anthropic Messages request's whole shape and return its canonical form."""
    return request_to_canonical(messages_validate(body))


class MessagesStreamEncoder:
    """Canonical chunks -> ``message_start``, ``content_block_*``, ``message_delta`` (usage
    and cost), ``message_stop``; a ``ping`` after the start. A failed stream ends with its
    ``error`` event instead of the last two."""

    def __init__(self) -> None:
        self.index = -1
        self.open_kind: str | None = None
        self.stop_reason: str | None = None
        self.started = False
        self.failed = False  # an error event went out: it is the stream's last event
        self.native_usage: dict[str, Any] = {}  # a relayed upstream's own usage counts

    def begin(self, outcome: Outcome) -> bytes:
        return b""  # message_start goes out with the first chunk, native or translated

    def _start(self, outcome: Outcome) -> bytes:
        self.started = True
        message = {
            "id": outcome.request_id,
            "type": "message",
            "role": "assistant",
            "model": outcome.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return event("message_start", {"message": message}) + event("ping", {})

    def _relay(self, raw: dict[str, Any], outcome: Outcome) -> bytes:
        """An Anthropic upstream's own event, passed on with the gateway's id and model; its
        closing events are replaced by the ones carrying the cost."""
        kind = raw.get("type", "")
        if kind == "message_start":
            self.started = True
            message = {**raw.get("message", {}), "id": outcome.request_id, "model": outcome.model}
            self.native_usage = dict(message.get("usage") or {})
            return event(kind, {"message": message})
        if kind == "message_delta":
            self.stop_reason = (raw.get("delta") or {}).get("stop_reason") or self.stop_reason
            usage = raw.get("usage") or {}
            self.native_usage.update({k: v for k, v in usage.items() if v is not None})
            return b""
        if kind == "message_stop":
            return b""
        return event(kind, {k: v for k, v in raw.items() if k != "type"})

    def _close(self) -> bytes:
        if self.open_kind is None:
            return b""
        self.open_kind = None
        return event("content_block_stop", {"index": self.index})

    def _open(self, kind: str, block: dict[str, Any]) -> bytes:
        out = self._close()
        self.index += 1
        self.open_kind = kind
        return out + event("content_block_start", {"index": self.index, "content_block": block})

    def chunk(self, chunk: StreamChunk, outcome: Outcome) -> bytes:
        if chunk.native is not None:
            return self._relay(chunk.native, outcome)
        out = b"" if self.started else self._start(outcome)
        for choice in chunk.canonical.get("choices") or []:
            delta = choice.get("delta") or {}
            thinking = delta.get("reasoning") or delta.get("reasoning_content")
            if thinking:
                if self.open_kind != "thinking":
                    out += self._open("thinking", {"type": "thinking", "thinking": ""})
                out += event(
                    "content_block_delta",
                    {
                        "index": self.index,
                        "delta": {"type": "thinking_delta", "thinking": thinking},
                    },
                )
            if delta.get("content"):
                if self.open_kind != "text":
                    out += self._open("text", {"type": "text", "text": ""})
                out += event(
                    "content_block_delta",
                    {
                        "index": self.index,
                        "delta": {"type": "text_delta", "text": delta["content"]},
                    },
                )
            for call in delta.get("tool_calls") or []:
                fn = call.get("function") or {}
                if call.get("id") or self.open_kind != "tool_use":
                    out += self._open(
                        "tool_use",
                        {
                            "type": "tool_use",
                            "id": call.get("id"),
                            "name": fn.get("name"),
                            "input": {},
                        },
                    )
                if fn.get("arguments"):
                    out += event(
                        "content_block_delta",
                        {
                            "index": self.index,
                            "delta": {"type": "input_json_delta", "partial_json": fn["arguments"]},
                        },
                    )
            native = choice.get("finish_reason")
            if native:
                self.stop_reason = (
                    native if native in STOP_TO_FINISH else FINISH_TO_STOP.get(native, "end_turn")
                )
        return out

    def error(self, err: ApiError, outcome: Outcome) -> bytes:
        """The ``error`` event, which ends the stream as Anthropic ends one that fails: no
        block is closed and no ``message_delta`` / ``message_stop`` follows (``end`` sends
        nothing after it); the SDK raises on it. The charge is on the Generation record."""
        self.failed = True
        return (b"" if self.started else self._start(outcome)) + event(
            "error", {"error": {"type": "api_error", "message": err.message}}
        )

    def end(self, outcome: Outcome, cost: int, tally: object) -> bytes:
        if self.failed:
            return b""
        usage = anthropic_usage(outcome.usage, cost)
        if self.native_usage and not outcome.usage_estimated:
            # A relayed upstream's counts keep their split (cache creation vs. input).
            usage = {**self.native_usage, "cost": cost}
        return (
            (b"" if self.started else self._start(outcome))
            + self._close()
            + event(
                "message_delta",
                {
                    "delta": {"stop_reason": self.stop_reason or "end_turn", "stop_sequence": None},
                    "usage": usage,
                },
            )
            + event("message_stop", {})
        )
