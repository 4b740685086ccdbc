"""Server-sent event streams of the fake upstream, one writer per streaming mode.

Each writer gets the request handler and writes to its socket; the handler turns a
``BrokenPipeError`` / ``ConnectionResetError`` raised here into a recorded client
disconnect (see ``FakeUpstream.disconnects``).
"""

from __future__ import annotations

import json
import socket
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.upstream import FakeHandler

TOOL_ARGUMENTS = '{"city": "Paris"}'
TOOL_ARGUMENT_PIECES = ('{"city"', ': "Par', 'is"}')
TOOL_CALL_ID = "call_fake1"


def mode_arg(model: str, prefix: str) -> int | None:
    """The number after ``prefix-`` in a model name such as ``cut-3``, else None."""
    head, _, tail = model.partition("-")
    if head == prefix and tail.isdigit():
        return int(tail)
    return None


class ChunkWriter:
    """Writes ``chat.completion.chunk`` events of one stream."""

    def __init__(self, handler: FakeHandler, body: dict[str, Any]) -> None:
        self.handler = handler
        self.base = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model"),
        }

    def start(self) -> None:
        handler = self.handler
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.flush()

    def raw(self, data: Any) -> None:
        self.handler.wfile.write(b"data: " + json.dumps(data).encode() + b"\n\n")
        self.handler.wfile.flush()

    def delta(self, delta: dict[str, Any], finish: str | None = None) -> None:
        self.raw({**self.base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    def usage(self, usage: dict[str, Any]) -> None:
        self.raw({**self.base, "choices": [], "usage": usage})

    def done(self) -> None:
        self.handler.wfile.write(b"data: [DONE]\n\n")
        self.handler.wfile.flush()

    def drop(self) -> None:
        """End the TCP connection mid-stream: no finish_reason, no usage, no [DONE]."""
        self.handler.wfile.flush()
        self.handler.connection.shutdown(socket.SHUT_RDWR)

    def pause(self) -> None:
        if self.handler.server.chunk_delay:
            time.sleep(self.handler.server.chunk_delay)


def text_stream(
    handler: FakeHandler, body: dict[str, Any], text: str, finish: str, usage: dict[str, Any]
) -> None:
    """A role chunk, one content chunk per word of ``text``, the finish chunk, the usage chunk
    (when asked for and the model is not ``no-usage``) and ``[DONE]``; ``cut-<n>`` and
    ``errevent-<n>`` end after n content chunks, ``authevent-<status>`` after one,
    ``stall-<ms>`` waits before the first."""
    model = str(body.get("model") or "")
    out = ChunkWriter(handler, body)
    out.start()
    stall = mode_arg(model, "stall")
    if stall:
        time.sleep(stall / 1000)
    out.delta({"role": "assistant", "content": ""})
    cut, errevent = mode_arg(model, "cut"), mode_arg(model, "errevent")
    authevent = mode_arg(model, "authevent")
    for i, word in enumerate(text.split()):
        if i == cut:
            out.drop()
            return
        if i == errevent:
            out.raw({"error": {"message": "fake mid-stream failure", "code": 502}})
            out.drop()
            return
        if i == 1 and authevent:
            out.raw({"error": {"message": handler.auth_echo(), "code": authevent}})
            out.drop()
            return
        out.pause()
        out.delta({"content": (" " if i else "") + word})
    out.delta({}, finish)
    if (body.get("stream_options") or {}).get("include_usage") and model != "no-usage":
        out.usage(usage)
    out.done()


def tool_stream(handler: FakeHandler, body: dict[str, Any], usage: dict[str, Any]) -> None:
    """A streamed tool call: id, type and name first, then the arguments in pieces."""
    out = ChunkWriter(handler, body)
    out.start()
    name = tool_name(body)
    first = {"index": 0, "id": TOOL_CALL_ID, "type": "function"}
    first["function"] = {"name": name, "arguments": ""}
    out.delta({"role": "assistant", "content": None, "tool_calls": [first]})
    for piece in TOOL_ARGUMENT_PIECES:
        out.pause()
        out.delta({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
    out.delta({}, "tool_calls")
    if (body.get("stream_options") or {}).get("include_usage"):
        out.usage(usage)
    out.done()


def tool_name(body: dict[str, Any]) -> str:
    tools = body.get("tools") or [{}]
    return str((tools[0].get("function") or {}).get("name") or "get_weather")


def tool_message(body: dict[str, Any]) -> dict[str, Any]:
    """The assistant message of a non-streamed tool call."""
    call = {"name": tool_name(body), "arguments": TOOL_ARGUMENTS}
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": TOOL_CALL_ID, "type": "function", "function": call}],
    }
