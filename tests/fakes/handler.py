"""The request-handler basics of the fake upstreams (tests.fakes.upstream,
tests.fakes.anthropic_upstream): HTTP/1.1 keep-alive, no access log, JSON bodies read and
recorded in ``server.requests``, JSON replies."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class JsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

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

    def _read_json(self) -> tuple[bool, Any]:
        """(True, the request's JSON body), recorded in ``server.requests`` (path, headers,
        body); (False, None) when the body is not JSON (not recorded)."""
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            return False, None
        server: Any = self.server
        with server.lock:
            server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        return True, body


class FakeServer(ThreadingHTTPServer):
    """A fake upstream's server: its own thread, a log of the requests it received, and a
    count of streams the client closed early."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", port), handler)
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.disconnects = 0
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def disconnect_record(self) -> None:
        with self.lock:
            self.disconnects += 1

    def disconnects_wait(self, count: int, *, timeout: float = 3.0) -> int:
        """Poll until ``disconnects`` reaches ``count`` (or the timeout); returns it."""
        deadline = time.monotonic() + timeout
        while self.disconnects < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.disconnects

    def start(self) -> Self:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
