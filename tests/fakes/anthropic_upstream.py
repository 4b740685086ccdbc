"""A fake Anthropic upstream: a real HTTP server speaking the Messages wire format at
``POST /v1/messages`` (JSON and SSE), with fault modes chosen by the model name.

Every request needs ``x-api-key`` (equal to ``server.api_key`` when that is set) and
``anthropic-version``; without them the answer is 401 in Anthropic's error shape
``{"type": "error", "error": {"type": "authentication_error", "message": ...}}``.

The reply is ``"claude: <text of the last user message>"`` (its text blocks and the text of
its ``tool_result`` blocks, joined by spaces), cut to ``max_tokens`` words with stop_reason
``max_tokens``, else ``end_turn``. With ``tools`` and a ``tool_choice`` of type ``any`` or
``tool`` (or the model ``tooluse``) the reply is one ``tool_use`` block instead: id
``toolu_fake1``, the chosen tool's name (else the first tool's), input ``{"city": "Paris"}``,
stop_reason ``tool_use``.

Usage is deterministic, so tests compute the exact cost:
- ``input_tokens`` = 10 x the number of messages (+ 10 when ``system`` is given);
- ``output_tokens`` = the number of words of the reply text (a tool_use reply: 2, the words
  of its JSON input ``{"city": "Paris"}``);
- ``cache_creation_input_tokens`` = 8 when any block of the request (system, messages,
  tools) carries ``cache_control``, else 0;
- ``cache_read_input_tokens`` = 5 for the model ``cached``, else 0.

Model names (the route's ``upstream_model``):
- ``claude`` (or anything else): the reply above.
- ``fail-<status>``: that HTTP status with an Anthropic error body (``fail-500``, ``fail-429``,
  ``fail-529`` overloaded, ...).
- ``echo-auth-<status>``: that HTTP status with an Anthropic error body whose message
  echoes the request's ``x-api-key``, and its first 10 characters apart (a hostile or
  careless upstream; also for streamed requests, before any byte).
- ``malformed``: HTTP 200 with a body that is not JSON.
- ``slow-<ms>``: the reply after a delay of <ms> milliseconds.
Streaming-only modes (unstreamed requests to them answer normally):
- ``cut-<n>``: message_start, the text block's start and n text deltas, then the TCP
  connection is dropped (no message_delta, no message_stop).
- ``errevent-<n>``: n text deltas, then an ``error`` event (overloaded_error) and the end.
- ``authevent-<status>``: one text delta, then an ``error`` event of that status's type
  echoing the ``x-api-key`` as ``echo-auth`` does, and the end.

A stream is the real event sequence: ``message_start`` (with the input usage and
``output_tokens`` 1), ``content_block_start``, ``ping``, one ``content_block_delta`` per word
(``text_delta``; for tool_use ``input_json_delta`` in three pieces), ``content_block_stop``,
``message_delta`` (stop_reason and the output usage), ``message_stop``; delimited by closing
the connection. Every request is recorded in ``server.requests`` (path, headers, body).
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

from tests.fakes.handler import FakeServer, JsonHandler

TOOL_USE_ID = "toolu_fake1"
TOOL_INPUT = {"city": "Paris"}
TOOL_INPUT_PIECES = ('{"city"', ': "Par', 'is"}')
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def mode_arg(model: str, prefix: str) -> int | None:
    head, _, tail = model.partition("-")
    return int(tail) if head == prefix and tail.isdigit() else None


def block_text(content: Any) -> str:
    """The text of a message's content: text blocks and tool_result contents."""
    if isinstance(content, str):
        return content
    pieces: list[str] = []
    for block in content or []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            pieces.append(block.get("text", ""))
        elif block.get("type") == "tool_result":
            pieces.append(block_text(block.get("content")))
    return " ".join(p for p in pieces if p)


def reply_text(body: dict[str, Any]) -> str:
    messages = body.get("messages") or []
    last = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    return f"claude: {block_text(last.get('content'))}".strip()


def reply_of(body: dict[str, Any]) -> tuple[str, str]:
    """(reply text, stop_reason) of a text answer."""
    words = reply_text(body).split()
    cap = int(body.get("max_tokens") or 0)
    if cap and len(words) > cap:
        return " ".join(words[:cap]), "max_tokens"
    return " ".join(words), "end_turn"


def wants_tool(body: dict[str, Any]) -> bool:
    choice = body.get("tool_choice") or {}
    forced = choice.get("type") in ("any", "tool")
    return bool(body.get("tools")) and (forced or body.get("model") == "tooluse")


def tool_name(body: dict[str, Any]) -> str:
    choice = body.get("tool_choice") or {}
    if choice.get("type") == "tool" and choice.get("name"):
        return str(choice["name"])
    return str((body.get("tools") or [{}])[0].get("name") or "get_weather")


def _has_cache_control(value: Any) -> bool:
    if isinstance(value, dict):
        return "cache_control" in value or any(_has_cache_control(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_cache_control(v) for v in value)
    return False


def usage_for(body: dict[str, Any], output_tokens: int) -> dict[str, int]:
    """The usage the fake reports; see the module docstring for the rule."""
    marked = any(_has_cache_control(body.get(k)) for k in ("system", "messages", "tools"))
    return {
        "input_tokens": 10 * len(body.get("messages") or []) + (10 if body.get("system") else 0),
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 8 if marked else 0,
        "cache_read_input_tokens": 5 if body.get("model") == "cached" else 0,
    }


def answer(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str, int]:
    """(content blocks, stop_reason, output_tokens) of the reply."""
    if wants_tool(body):
        block = {"type": "tool_use", "id": TOOL_USE_ID, "name": tool_name(body)}
        block["input"] = dict(TOOL_INPUT)
        return [block], "tool_use", len(json.dumps(TOOL_INPUT).split())
    text, stop = reply_of(body)
    return [{"type": "text", "text": text}], stop, len(text.split())


def error_body(status: int, message: str) -> dict[str, Any]:
    kind = ERROR_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


class AnthropicHandler(JsonHandler):
    server: FakeAnthropic

    def do_POST(self) -> None:
        parsed, body = self._read_json()
        if not parsed:
            self._json(400, error_body(400, "bad json"))
            return
        key = self.headers.get("x-api-key")
        if not key or not self.headers.get("anthropic-version"):
            self._json(401, error_body(401, "x-api-key and anthropic-version are required"))
            return
        if self.server.api_key and key != self.server.api_key:
            self._json(401, error_body(401, "invalid x-api-key"))
            return
        if self.path.rstrip("/") != "/v1/messages":
            self._json(404, error_body(404, f"no route {self.path}"))
            return
        model = str(body.get("model") or "claude")
        status = mode_arg(model, "fail")
        if status:
            self._json(status, error_body(status, f"fake failure {status}"))
            return
        if model.startswith("echo-auth-") and model[10:].isdigit():
            self._json(int(model[10:]), error_body(int(model[10:]), self.auth_echo()))
            return
        if model == "malformed":
            self._send(200, b"<html>not json")
            return
        delay = mode_arg(model, "slow")
        if delay:
            time.sleep(delay / 1000)
        if body.get("stream"):
            self._stream(body, model)
        else:
            self._json(200, self._message(body, model))

    def auth_echo(self) -> str:
        """An error message carrying the credential the request came with."""
        key = self.headers.get("x-api-key") or ""
        return f"x-api-key {key!r} refused (key starts {key[:10]}...)"

    def _message(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        content, stop, output_tokens = answer(body)
        return {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": usage_for(body, output_tokens),
        }

    def _event(self, kind: str, data: dict[str, Any]) -> None:
        payload = json.dumps({"type": kind, **data}).encode()
        self.wfile.write(b"event: " + kind.encode() + b"\ndata: " + payload + b"\n\n")
        self.wfile.flush()

    def _stream(self, body: dict[str, Any], model: str) -> None:
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            self._events(body, model)
        except (BrokenPipeError, ConnectionResetError):
            with self.server.lock:
                self.server.disconnect_record()

    def _events(self, body: dict[str, Any], model: str) -> None:
        content, stop, output_tokens = answer(body)
        start = self._message(body, model)
        start.update(content=[], stop_reason=None)
        start["usage"] = {**start["usage"], "output_tokens": 1}
        self._event("message_start", {"message": start})
        block = content[0]
        empty = {"input": {}} if block["type"] == "tool_use" else {"text": ""}
        self._event("content_block_start", {"index": 0, "content_block": {**block, **empty}})
        self._event("ping", {})
        if block["type"] == "tool_use":
            for piece in TOOL_INPUT_PIECES:
                delta = {"type": "input_json_delta", "partial_json": piece}
                self._event("content_block_delta", {"index": 0, "delta": delta})
        else:
            cut, errevent = mode_arg(model, "cut"), mode_arg(model, "errevent")
            authevent = mode_arg(model, "authevent")
            for i, word in enumerate(block["text"].split()):
                if i == 1 and authevent:
                    self._event(
                        "error", {"error": error_body(authevent, self.auth_echo())["error"]}
                    )
                    return
                if i == cut:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if i == errevent:
                    error = error_body(529, "fake mid-stream overload")["error"]
                    self._event("error", {"error": error})
                    return
                delta = {"type": "text_delta", "text": (" " if i else "") + word}
                self._event("content_block_delta", {"index": 0, "delta": delta})
        self._event("content_block_stop", {"index": 0})
        delta = {"stop_reason": stop, "stop_sequence": None}
        self._event("message_delta", {"delta": delta, "usage": {"output_tokens": output_tokens}})
        self._event("message_stop", {})


class FakeAnthropic(FakeServer):
    def __init__(self, port: int = 0, *, api_key: str = "") -> None:
        super().__init__(port, AnthropicHandler)
        self.api_key = api_key

    @property
    def url(self) -> str:
        """The base URL, without ``/v1`` (the anthropic dialect appends ``/v1/messages``)."""
        return f"http://127.0.0.1:{self.server_address[1]}"
