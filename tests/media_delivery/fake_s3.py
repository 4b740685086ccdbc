"""A small S3-compatible object store for the storage tests: path-style ``PUT``, ``GET``
(with a single ``Range``), ``HEAD`` and ``DELETE`` of ``/<bucket>/<key>``, objects kept in
memory, every request logged as (method, path). Signatures are not checked."""

from __future__ import annotations

import hashlib
import re
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.fakes.handler import FakeServer

_NO_SUCH_KEY = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code>'
    b"<Message>The specified key does not exist.</Message></Error>"
)
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


class _S3Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _key(self) -> str:
        return unquote(urlsplit(self.path).path)

    def _log(self) -> None:
        with self.server.lock:
            self.server.requests.append((self.command, self._key()))

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _object_headers(self, found: tuple[bytes, str]) -> dict[str, str]:
        data, content_type = found
        return {
            "ETag": '"' + hashlib.md5(data).hexdigest() + '"',
            "Content-Type": content_type,
            "Last-Modified": "Wed, 02 Dec 2026 08:00:00 GMT",
            "Accept-Ranges": "bytes",
        }

    def do_PUT(self) -> None:
        self._log()
        assert "chunked" not in self.headers.get("Transfer-Encoding", ""), self.headers
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        content_type = self.headers.get("Content-Type", "binary/octet-stream")
        with self.server.lock:
            self.server.objects[self._key()] = (data, content_type)
        self._reply(200, headers={"ETag": '"' + hashlib.md5(data).hexdigest() + '"'})

    def _read(self) -> None:
        self._log()
        with self.server.lock:
            found = self.server.objects.get(self._key())
        if found is None:
            self._reply(404, b"" if self.command == "HEAD" else _NO_SUCH_KEY)
            return
        data = found[0]
        headers = self._object_headers(found)
        match = _RANGE.match(self.headers.get("Range", ""))
        if match is None:
            self._reply(200, data, headers)
            return
        first = int(match.group(1))
        last = min(int(match.group(2) or len(data) - 1), len(data) - 1)
        headers["Content-Range"] = f"bytes {first}-{last}/{len(data)}"
        self._reply(206, data[first : last + 1], headers)

    do_GET = _read
    do_HEAD = _read

    def do_DELETE(self) -> None:
        self._log()
        with self.server.lock:
            self.server.objects.pop(self._key(), None)
        self._reply(204)


class FakeS3(FakeServer):
    def __init__(self, port: int = 0) -> None:
        super().__init__(port, _S3Handler)
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.requests: list[tuple[str, str]] = []  # type: ignore[assignment]
