"""Greedy fake upstreams: the worst case a hold must bound. Real HTTP servers speaking the
OpenAI wire format (chat completions, JSON and SSE; embeddings) and the Anthropic Messages
format (JSON and SSE), which bill as much as any honest provider could:

- input: a worst-case tokenizer, one token per UTF-8 byte of every string value anywhere in
  the body (messages, system, tools, functions, schemas, predictions, unknown fields...),
  and of the property names inside schemas (providers render them as text); one token per
  number or boolean; 4 tokens of template per message; ``IMAGE_TOKENS`` more for each
  image (a provider counts its pixels, not its URL); ``DOCUMENT_TOKENS`` for each document
  or file part; the ``model`` value and the streaming switches are not counted;
- output: as many tokens (one per word) as the LARGEST completion cap it finds in the body
  under any name it knows (``max_tokens``, ``max_completion_tokens``, ``max_output_tokens``,
  ``max_new_tokens``), times ``n`` or ``best_of``, or ``DEFAULT_OUTPUT`` words when the body
  names none; plus one token per byte of a ``prediction`` (rejected prediction tokens are
  billed as completion).

Every usage reported is appended to ``server.reported`` as (prompt, completion) tokens, so a
test can price exactly what the upstream billed.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.handler import FakeServer, JsonHandler

IMAGE_TOKENS = 3_800  # OpenAI's patch-based models reach ~3,800 tokens a picture
DOCUMENT_TOKENS = 50_000
DEFAULT_OUTPUT = 5_000
TEMPLATE_TOKENS = 4
CAPS = ("max_tokens", "max_completion_tokens", "max_output_tokens", "max_new_tokens")
NOT_COUNTED = frozenset({"model", "stream", "stream_options"})
SCHEMA_KEYS = frozenset({"parameters", "input_schema", "schema", "json_schema"})


def _tokens(value: Any, *, in_schema: bool = False) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, dict):
        total = 0
        kind = value.get("type")
        if kind in ("image", "image_url", "input_image"):
            total += IMAGE_TOKENS
        elif kind in ("document", "file", "input_file"):
            total += DOCUMENT_TOKENS
        for key, item in value.items():
            if in_schema:
                total += len(key.encode())
            total += _tokens(item, in_schema=in_schema or key in SCHEMA_KEYS)
        return total
    if isinstance(value, list):
        return sum(_tokens(item, in_schema=in_schema) for item in value)
    return 1  # a number, a boolean or null


def input_tokens(body: dict[str, Any]) -> int:
    counted = {k: v for k, v in body.items() if k not in NOT_COUNTED and k not in CAPS}
    messages = body.get("messages")
    turns = len(messages) if isinstance(messages, list) else 0
    return _tokens(counted) + TEMPLATE_TOKENS * turns


def output_tokens(body: dict[str, Any]) -> int:
    caps = [int(body[k]) for k in CAPS if isinstance(body.get(k), int)]
    copies = max([int(body[k]) for k in ("n", "best_of") if isinstance(body.get(k), int)] + [1])
    prediction = body.get("prediction")
    predicted = _tokens(prediction) if prediction else 0
    return (max(caps) if caps else DEFAULT_OUTPUT) * copies + predicted


def _words(count: int) -> list[str]:
    return ["w"] * count


class _Greedy(JsonHandler):
    server: GreedyServer

    def _bill(self, body: dict[str, Any], *, embeddings: bool = False) -> tuple[int, int]:
        prompt = input_tokens(body)
        completion = 0 if embeddings else output_tokens(body)
        with self.server.lock:
            self.server.reported.append((prompt, completion))
        return prompt, completion

    def _sse(self) -> None:
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()

    def _write(self, payload: bytes) -> None:
        self.wfile.write(payload)
        self.wfile.flush()


class GreedyOpenAIHandler(_Greedy):
    def do_POST(self) -> None:
        parsed, body = self._read_json()
        if not parsed or not isinstance(body, dict):
            self._json(400, {"error": {"message": "bad json"}})
            return
        if self.path.rstrip("/").endswith("/embeddings"):
            prompt, _ = self._bill(body, embeddings=True)
            items = body.get("input") if isinstance(body.get("input"), list) else [body["input"]]
            data = [
                {"object": "embedding", "index": i, "embedding": [0.5] * 4}
                for i in range(len(items))
            ]
            usage = {"prompt_tokens": prompt, "total_tokens": prompt}
            self._json(200, {"object": "list", "data": data, "model": "g", "usage": usage})
            return
        prompt, completion = self._bill(body)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        text = " ".join(_words(completion))
        if not body.get("stream"):
            message = {"role": "assistant", "content": text}
            choice = {"index": 0, "finish_reason": "length", "message": message}
            self._json(
                200, {"id": "g", "object": "chat.completion", "choices": [choice], "usage": usage}
            )
            return
        self._sse()
        base = {"id": "g", "object": "chat.completion.chunk", "model": body.get("model")}
        for word in _words(completion):
            delta = {"index": 0, "delta": {"content": word + " "}, "finish_reason": None}
            self._write(b"data: " + json.dumps({**base, "choices": [delta]}).encode() + b"\n\n")
        end = {"index": 0, "delta": {}, "finish_reason": "length"}
        self._write(b"data: " + json.dumps({**base, "choices": [end]}).encode() + b"\n\n")
        tail = {**base, "choices": [], "usage": usage}
        self._write(b"data: " + json.dumps(tail).encode() + b"\n\ndata: [DONE]\n\n")


class GreedyAnthropicHandler(_Greedy):
    def do_POST(self) -> None:
        parsed, body = self._read_json()
        if not parsed or not isinstance(body, dict):
            self._json(400, {"type": "error", "error": {"type": "invalid_request_error"}})
            return
        prompt, completion = self._bill(body)
        text = " ".join(_words(completion))
        message = {
            "id": "msg_g",
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": [{"type": "text", "text": text}],
            "stop_reason": "max_tokens",
            "stop_sequence": None,
            "usage": {"input_tokens": prompt, "output_tokens": completion},
        }
        if not body.get("stream"):
            self._json(200, message)
            return
        self._sse()
        start = {**message, "content": [], "stop_reason": None}
        start["usage"] = {"input_tokens": prompt, "output_tokens": 1}
        self._event("message_start", {"message": start})
        block = {"type": "text", "text": ""}
        self._event("content_block_start", {"index": 0, "content_block": block})
        for word in _words(completion):
            delta = {"type": "text_delta", "text": word + " "}
            self._event("content_block_delta", {"index": 0, "delta": delta})
        self._event("content_block_stop", {"index": 0})
        delta = {"stop_reason": "max_tokens", "stop_sequence": None}
        self._event("message_delta", {"delta": delta, "usage": {"output_tokens": completion}})
        self._event("message_stop", {})

    def _event(self, kind: str, data: dict[str, Any]) -> None:
        payload = json.dumps({"type": kind, **data}).encode()
        self._write(b"event: " + kind.encode() + b"\ndata: " + payload + b"\n\n")


class GreedyServer(FakeServer):
    def __init__(self, handler: type[_Greedy], port: int = 0) -> None:
        super().__init__(port, handler)
        self.reported: list[tuple[int, int]] = []
