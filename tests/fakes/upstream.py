"""A fake upstream provider: a real HTTP server speaking the OpenAI wire format (chat
completions as JSON and SSE, embeddings), with fault modes chosen by the upstream model name.

Model names (a route's ``upstream_model``), for ``POST /v1/chat/completions``:
- ``echo`` (default): replies "echo: <last user message>", with usage.
- ``fail-500`` / ``fail-429`` / ``fail-400`` / ``fail-401``: that HTTP status with an error body
  (also on ``/v1/embeddings``).
- ``timeout``: sleeps ``timeout_sleep`` seconds (longer than any client timeout) before answering.
- ``malformed``: HTTP 200 with a body that is not JSON.
- ``no-usage``: a normal reply without ``usage`` (streamed: no usage chunk).
- ``slow-<ms>``: like echo, after a delay of <ms> milliseconds.
- ``slowfail-<ms>``: HTTP 500 with an error body after a delay of <ms> milliseconds (also
  for streamed requests: the failure comes before the first byte).
- ``echo-auth-<status>``: that HTTP status with an error body whose message echoes the
  request's ``Authorization`` header, and the first 10 characters of its key apart (a
  hostile or careless upstream; also for streamed requests, before any byte).
- ``cached``: usage with prompt_tokens_details.cached_tokens = 5 and
  completion_tokens_details.reasoning_tokens = 3.
- ``toolstream``: a tool call (``get_weather`` or the first tool's name, arguments
  ``{"city": "Paris"}``, id ``call_fake1``); streamed as deltas, id and name first, then the
  arguments in three pieces, finish_reason ``tool_calls``. Also returned, unstreamed, for
  any model when the request has tools and a ``tool_choice`` other than none/auto.
Streaming-only modes (unstreamed requests to them answer like ``echo``):
- ``cut-<n>``: n content chunks, then the TCP connection is dropped: no finish_reason, no
  usage, no ``[DONE]``.
- ``errevent-<n>``: n content chunks, then ``data: {"error": {...}}`` and the connection
  is dropped.
- ``stall-<ms>``: response headers at once, then silence for <ms> milliseconds before the
  first chunk (for keep-alive tests).
- ``stream-500``: HTTP 500 before any byte of the stream.
- ``authevent-<status>``: one content chunk, then ``data: {"error": {"code": <status>,
  "message": ...}}`` echoing the ``Authorization`` header as ``echo-auth`` does, and the
  connection is dropped.

A stream is a role chunk (empty content), one content chunk per word of the reply (each
after ``chunk_delay`` seconds), a finish chunk, a usage chunk when
``stream_options.include_usage`` is true, and ``data: [DONE]``; the body is delimited by
closing the connection.

``POST /v1/embeddings`` answers deterministic vectors (see ``tests.fakes.embeddings``).

Every request is recorded in ``server.requests`` (path, headers, body). Streams that end
because the client went away (a write failed with BrokenPipe/ConnectionReset) are counted
in ``server.disconnects``; ``server.disconnects_wait(n)`` polls for it.

Usage is deterministic: prompt_tokens = 10 x the number of messages, completion_tokens =
the number of words in the echo reply (for ``toolstream``: in the tool call's arguments, 2),
so tests compute the exact expected cost.

Run standalone: ``python -m tests.fakes.upstream --port 9100 --delay-ms 50``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from tests.fakes.embeddings import embeddings_reply
from tests.fakes.handler import FakeServer, JsonHandler
from tests.fakes.streams import TOOL_ARGUMENTS, text_stream, tool_message, tool_stream


def reply_text(body: dict[str, Any]) -> str:
    messages = body.get("messages") or []
    last = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    content = (last or {}).get("content") or ""
    if isinstance(content, list):
        content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return f"echo: {content}".strip()


def usage_for(body: dict[str, Any], text: str) -> dict[str, Any]:
    prompt = 10 * len(body.get("messages") or [])
    completion = len(text.split())
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


class FakeHandler(JsonHandler):
    server: FakeUpstream

    def _fail(self, status: int) -> None:
        self._json(status, {"error": {"message": f"fake failure {status}", "type": "server_error"}})

    def auth_echo(self) -> str:
        """An error message carrying the credential the request came with."""
        auth = self.headers.get("Authorization") or ""
        key = auth.removeprefix("Bearer ")
        return f"credential {auth!r} refused (key starts {key[:10]}...)"

    def do_POST(self) -> None:
        parsed, body = self._read_json()
        if not parsed:
            self._json(400, {"error": {"message": "bad json"}})
            return
        if self.server.delay:
            time.sleep(self.server.delay)
        path = self.path.rstrip("/")
        model = str(body.get("model") or "echo")
        if model.startswith("fail-") and model[5:].isdigit():
            self._fail(int(model[5:]))
        elif model.startswith("echo-auth-") and model[10:].isdigit():
            self._json(int(model[10:]), {"error": {"message": self.auth_echo(), "type": "fake"}})
        elif model.startswith("slowfail-") and model[9:].isdigit():
            time.sleep(int(model[9:]) / 1000)
            self._fail(500)
        elif path.endswith("/chat/completions"):
            self._chat(body, model)
        elif path.endswith("/embeddings"):
            self._json(200, embeddings_reply(body))
        else:
            self._json(404, {"error": {"message": f"no route {self.path}"}})

    def _chat(self, body: dict[str, Any], model: str) -> None:
        if model == "timeout":
            time.sleep(self.server.timeout_sleep)
            self._json(504, {"error": {"message": "too late"}})
            return
        if model == "malformed":
            self._send(200, b"<html>not json")
            return
        if model.startswith("slow-"):
            time.sleep(int(model.split("-", 1)[1]) / 1000)
        if body.get("stream"):
            self._stream(body, model)
            return
        text, finish = self._reply(body)
        usage = self._usage(body, text, model)
        data: dict[str, Any] = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": finish,
                    "logprobs": None,
                    "message": {"role": "assistant", "content": text},
                }
            ],
        }
        forced = body.get("tools") and body.get("tool_choice") not in (None, "none", "auto")
        if model == "toolstream" or forced:
            data["choices"][0]["message"] = tool_message(body)
            data["choices"][0]["finish_reason"] = "tool_calls"
        if model == "toolstream":
            data["usage"] = usage_for(body, TOOL_ARGUMENTS)
        elif model != "no-usage":
            data["usage"] = usage
        self._json(200, data)

    def _reply(self, body: dict[str, Any]) -> tuple[str, str]:
        text = reply_text(body)
        cap = body.get("max_completion_tokens") or body.get("max_tokens")
        if cap and len(text.split()) > int(cap):
            return " ".join(text.split()[: int(cap)]), "length"
        return text, "stop"

    def _usage(self, body: dict[str, Any], text: str, model: str) -> dict[str, Any]:
        usage = usage_for(body, text)
        if model == "cached":
            usage["prompt_tokens_details"] = {"cached_tokens": 5}
            usage["completion_tokens_details"] = {"reasoning_tokens": 3}
        return usage

    def _stream(self, body: dict[str, Any], model: str) -> None:
        if model == "stream-500":
            self._fail(500)
            return
        self.close_connection = True
        try:
            if model == "toolstream":
                tool_stream(self, body, usage_for(body, TOOL_ARGUMENTS))
            else:
                text, finish = self._reply(body)
                text_stream(self, body, text, finish, self._usage(body, text, model))
        except (BrokenPipeError, ConnectionResetError):
            self.server.disconnect_record()


class FakeUpstream(FakeServer):
    def __init__(
        self,
        port: int = 0,
        *,
        delay: float = 0.0,
        chunk_delay: float = 0.0,
        timeout_sleep: float = 5.0,
    ) -> None:
        super().__init__(port, FakeHandler)
        self.delay = delay
        self.chunk_delay = chunk_delay
        self.timeout_sleep = timeout_sleep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--chunk-delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    server = FakeUpstream(
        args.port, delay=args.delay_ms / 1000, chunk_delay=args.chunk_delay_ms / 1000
    )
    print(f"fake upstream on {server.url}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
