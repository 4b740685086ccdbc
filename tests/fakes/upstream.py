"""A fake upstream provider: a real HTTP server speaking the OpenAI chat-completions wire
format (JSON and SSE), with fault modes chosen by the upstream model name.

Model names (a route's ``upstream_model``):
- ``echo`` (default): replies "echo: <last user message>", with usage.
- ``fail-500`` / ``fail-429`` / ``fail-400`` / ``fail-401``: that HTTP status with an error body.
- ``timeout``: sleeps longer than any client timeout before answering.
- ``malformed``: HTTP 200 with a body that is not JSON.
- ``no-usage``: a normal reply without ``usage``.
- ``slow-<ms>``: like echo, after a delay of <ms> milliseconds.
- ``cached``: usage with prompt_tokens_details.cached_tokens and reasoning tokens.
Every request is recorded in ``server.requests`` (path, headers, body).

Usage is deterministic: prompt_tokens = 10 x the number of messages, completion_tokens =
the number of words in the reply, so tests compute the exact expected cost.

Run standalone: ``python -m tests.fakes.upstream --port 9100 --delay-ms 50``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


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


class FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeUpstream

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, payload: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data).encode())

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._json(400, {"error": {"message": "bad json"}})
            return
        with self.server.lock:
            self.server.requests.append(
                {"path": self.path, "headers": dict(self.headers), "body": body}
            )
        if self.server.delay:
            time.sleep(self.server.delay)
        if self.path.rstrip("/").endswith("/chat/completions"):
            self._chat(body)
        else:
            self._json(404, {"error": {"message": f"no route {self.path}"}})

    def _chat(self, body: dict[str, Any]) -> None:
        model = str(body.get("model") or "echo")
        if model.startswith("fail-"):
            status = int(model.split("-", 1)[1])
            self._json(
                status, {"error": {"message": f"fake failure {status}", "type": "server_error"}}
            )
            return
        if model == "timeout":
            time.sleep(self.server.timeout_sleep)
            self._json(504, {"error": {"message": "too late"}})
            return
        if model == "malformed":
            self._send(200, b"<html>not json")
            return
        if model.startswith("slow-"):
            time.sleep(int(model.split("-", 1)[1]) / 1000)
        text = reply_text(body)
        cap = body.get("max_completion_tokens") or body.get("max_tokens")
        finish = "stop"
        if cap and len(text.split()) > int(cap):
            text = " ".join(text.split()[: int(cap)])
            finish = "length"
        usage = usage_for(body, text)
        if model == "cached":
            usage["prompt_tokens_details"] = {"cached_tokens": 5}
            usage["completion_tokens_details"] = {"reasoning_tokens": 3}
        if body.get("stream"):
            self._stream(body, text, finish, usage)
            return
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
        if body.get("tools") and body.get("tool_choice") not in (None, "none", "auto"):
            tool = body["tools"][0]["function"]["name"]
            data["choices"][0]["message"] = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_fake1",
                        "type": "function",
                        "function": {"name": tool, "arguments": '{"city": "Paris"}'},
                    }
                ],
            }
            data["choices"][0]["finish_reason"] = "tool_calls"
        if model != "no-usage":
            data["usage"] = usage
        self._json(200, data)

    def _stream(self, body: dict[str, Any], text: str, finish: str, usage: dict[str, Any]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        base = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model"),
        }

        def emit(data: Any) -> None:
            self.wfile.write(b"data: " + json.dumps(data).encode() + b"\n\n")
            self.wfile.flush()

        emit(
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
        for i, word in enumerate(text.split()):
            if self.server.chunk_delay:
                time.sleep(self.server.chunk_delay)
            emit(
                {
                    **base,
                    "choices": [
                        {
                            "index": 0,
                            "delta": {"content": (" " if i else "") + word},
                            "finish_reason": None,
                        }
                    ],
                }
            )
        emit({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        if (body.get("stream_options") or {}).get("include_usage") and body.get(
            "model"
        ) != "no-usage":
            emit({**base, "choices": [], "usage": usage})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


class FakeUpstream(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        port: int = 0,
        *,
        delay: float = 0.0,
        chunk_delay: float = 0.0,
        timeout_sleep: float = 5.0,
    ) -> None:
        super().__init__(("127.0.0.1", port), FakeHandler)
        self.delay = delay
        self.chunk_delay = chunk_delay
        self.timeout_sleep = timeout_sleep
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> FakeUpstream:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


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
