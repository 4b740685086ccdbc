"""A light fake OpenAI-compatible upstream for the benchmark.

One gevent process, a hand-written HTTP/1.1 keep-alive loop and no WSGI layer, so it costs
a few tens of microseconds of CPU per request and does not compete with the gateway for the
machine's cores. ``POST .../chat/completions`` answers after ``--delay-ms`` with an OpenAI
chat completion carrying ``usage``, computed as the tests' fake does: prompt_tokens = 10 x
the number of messages, completion_tokens = the number of words in the reply ("echo: <last
user message>", cut to max_tokens words). ``GET /stats`` answers the connections accepted,
requests and streams served so far. Anything else gets a 404.

With ``"stream": true`` the answer is an OpenAI SSE stream instead (chunked transfer
encoding, keep-alive): at once a role chunk, then ``--stream-chunks`` content chunks (one
word each, not cut to max_tokens) ``--stream-interval-ms`` apart, each stamped with the wall
time it was sent (``"ts"``: ``time.time()``, a field the gateway passes through, so a client
on the same machine can measure the relay latency of every chunk); then a finish chunk, the
usage chunk when ``stream_options.include_usage`` (prompt_tokens as above, completion_tokens
= the number of content chunks) and ``data: [DONE]``. ``--delay-ms`` does not apply to
streams. Every stream is one greenlet sleeping between chunks, so thousands of concurrent
streams cost little more than their writes.

Run: ``python -m bench.fake_upstream --port 9100 --delay-ms 50 [--stream-chunks 20
--stream-interval-ms 10]``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from typing import Any

import gevent
import orjson
from gevent.server import StreamServer

MAX_HEADER = 64 * 1024


def reply_for(body: dict[str, Any]) -> dict[str, Any]:
    messages = body.get("messages") or []
    last = next(
        (m for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"), None
    )
    content = (last or {}).get("content") or ""
    if isinstance(content, list):
        content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    words = f"echo: {content}".split()
    cap = body.get("max_completion_tokens") or body.get("max_tokens")
    finish = "stop"
    if cap and len(words) > int(cap):
        words = words[: int(cap)]
        finish = "length"
    prompt = 10 * len(messages)
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(body.get("model") or "echo"),
        "system_fingerprint": "fp_bench",
        "choices": [
            {
                "index": 0,
                "finish_reason": finish,
                "logprobs": None,
                "message": {"role": "assistant", "content": " ".join(words)},
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": len(words),
            "total_tokens": prompt + len(words),
        },
    }


def response_bytes(status: int, payload: bytes, *, close: bool) -> bytes:
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "Error")
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n"
        f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n"
    )
    return head.encode("latin-1") + payload


def sse_frame(data: bytes) -> bytes:
    """One chunk of a chunked transfer-encoded body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


class Handler:
    def __init__(self, delay: float, chunks: int = 20, interval: float = 0.01) -> None:
        self.delay = delay
        self.chunks = chunks
        self.interval = interval
        self.served = 0
        self.connections = 0
        self.streams = 0

    def __call__(self, sock: Any, _addr: Any) -> None:
        self.connections += 1
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                    if len(buf) > MAX_HEADER and b"\r\n\r\n" not in buf:
                        return
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, *_ = [*lines[0].split(" "), "", ""][:3]
                length = 0
                close = False
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    name = name.strip().lower()
                    if name == "content-length":
                        length = int(value.strip() or 0)
                    elif name == "connection" and value.strip().lower() == "close":
                        close = True
                while len(buf) < length:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                raw, buf = buf[:length], buf[length:]
                out = self.answer(method, path, raw, close=close)
                if isinstance(out, dict):
                    self.stream(sock, out, close=close)
                else:
                    sock.sendall(out)
                self.served += 1
                if close:
                    return
        except OSError:
            return
        finally:
            sock.close()

    def answer(self, method: str, path: str, raw: bytes, *, close: bool) -> bytes | dict[str, Any]:
        """The response's bytes, or the parsed body of a stream request (see stream())."""
        if method == "GET" and path == "/stats":
            stats = {"connections": self.connections, "requests": self.served}
            stats["streams"] = self.streams
            return response_bytes(200, orjson.dumps(stats), close=close)
        if method != "POST" or not path.split("?", 1)[0].rstrip("/").endswith("/chat/completions"):
            return response_bytes(404, b'{"error":{"message":"not found"}}', close=close)
        try:
            body = orjson.loads(raw or b"{}")
        except orjson.JSONDecodeError:
            return response_bytes(400, b'{"error":{"message":"bad json"}}', close=close)
        if not isinstance(body, dict):
            return response_bytes(400, b'{"error":{"message":"not an object"}}', close=close)
        if body.get("stream"):
            return body
        if self.delay:
            gevent.sleep(self.delay)
        return response_bytes(200, orjson.dumps(reply_for(body)), close=close)

    def stream(self, sock: Any, body: dict[str, Any], *, close: bool) -> None:
        """An OpenAI chat-completion SSE stream; the chunks are built from bytes templates,
        so a chunk costs a format and a write."""
        self.streams += 1
        sock.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: "
            + (b"close" if close else b"keep-alive")
            + b"\r\n\r\n"
            + sse_frame(
                self._chunk_head(body) + b'{"index":0,"delta":{"role":"assistant","content":""},'
                b'"logprobs":null,"finish_reason":null}]}\n\n'
            )
        )
        head = self._chunk_head(body)
        for i in range(self.chunks):
            if self.interval:
                gevent.sleep(self.interval)
            sock.sendall(
                sse_frame(
                    b'%s{"index":0,"delta":{"content":"w%d "},"logprobs":null,'
                    b'"finish_reason":null}],"ts":%.6f}\n\n' % (head, i, time.time())
                )
            )
        tail = sse_frame(
            head + b'{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}\n\n'
        )
        if (body.get("stream_options") or {}).get("include_usage"):
            prompt = 10 * len(body.get("messages") or [])
            usage = {
                "prompt_tokens": prompt,
                "completion_tokens": self.chunks,
                "total_tokens": prompt + self.chunks,
            }
            tail += sse_frame(head + b'],"usage":' + orjson.dumps(usage) + b"}\n\n")
        sock.sendall(tail + sse_frame(b"data: [DONE]\n\n") + b"0\r\n\r\n")

    @staticmethod
    def _chunk_head(body: dict[str, Any]) -> bytes:
        """A chunk up to the opening of its ``choices`` list."""
        return (
            b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":%d,'
            b'"model":%s,"system_fingerprint":"fp_bench","choices":['
            % (int(time.time()), orjson.dumps(str(body.get("model") or "echo")))
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--backlog", type=int, default=2048)
    parser.add_argument("--stream-chunks", type=int, default=20, help="content chunks")
    parser.add_argument("--stream-interval-ms", type=float, default=10.0)
    args = parser.parse_args()
    handler = Handler(args.delay_ms / 1000, args.stream_chunks, args.stream_interval_ms / 1000)
    server = StreamServer((args.host, args.port), handler, backlog=args.backlog)
    server.max_accept = 1000
    server.start()
    print(f"fake upstream on http://{args.host}:{server.server_port}", flush=True)

    def stop(*_: object) -> None:
        server.stop(timeout=1)
        sys.exit(0)

    gevent.signal_handler(signal.SIGTERM, stop)
    gevent.signal_handler(signal.SIGINT, stop)
    server.serve_forever()


if __name__ == "__main__":
    main()
