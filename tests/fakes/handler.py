"""The request-handler basics of the fake upstreams (tests.fakes.upstream,
tests.fakes.anthropic_upstream): HTTP/1.1 keep-alive, no access log, JSON bodies read and
recorded in ``server.requests``, JSON replies."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any


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
