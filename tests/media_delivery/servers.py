"""Real local HTTP servers of the delivery tests: ``Receiver``, a callback endpoint that
answers a script of statuses (a number, ``"slow"`` to outwait the sender's timeout, or
``"redirect"``: a 302 to another of its paths), recording every request's raw body and
headers; and ``FileHost``, a provider's file links that can stop answering (``expire``)."""

from __future__ import annotations

import struct
import time
import zlib
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.handler import FakeServer


def png_make(width: int = 8, height: int = 8, rgb: tuple[int, int, int] = (200, 60, 40)) -> bytes:
    """A real PNG of one colour (browsers show it: the console's thumbnails)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


# bytes that sniff as what they are (a real PNG; the others' signatures and headers)
PNG = png_make()
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(30)
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(30)
GIF = b"GIF89a\x01\x00\x01\x00" + bytes(20)
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(64)
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(40)
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(40)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _ReceiverHandler(_Handler):
    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        server: Receiver = self.server
        with server.lock:
            server.received.append({"path": self.path, "headers": dict(self.headers), "body": raw})
            step = server.script.pop(0) if server.script else 200
        if step == "slow":
            time.sleep(server.slow_seconds)
            step = 200
        if step == "redirect":
            self._reply(302, headers={"Location": f"{server.url}/elsewhere"})
            return
        self._reply(int(step), b"ok")


class Receiver(FakeServer):
    def __init__(self, port: int = 0) -> None:
        super().__init__(port, _ReceiverHandler)
        self.received: list[dict[str, Any]] = []
        self.script: list[int | str] = []
        self.slow_seconds = 2.0

    def reset(self, *script: int | str) -> Receiver:
        with self.lock:
            self.received.clear()
            self.script[:] = list(script)
        return self


class _FileHandler(_Handler):
    def do_GET(self) -> None:
        server: FileHost = self.server
        with server.lock:
            server.fetches.append(self.path)
            found = server.files.get(self.path)
        if found is None:
            self._reply(404, b"gone")
            return
        body, content_type = found
        self._reply(200, body, {"Content-Type": content_type})


class FileHost(FakeServer):
    def __init__(self, port: int = 0) -> None:
        super().__init__(port, _FileHandler)
        self.files: dict[str, tuple[bytes, str]] = {}
        self.fetches: list[str] = []

    def put(self, path: str, body: bytes, content_type: str = "") -> str:
        with self.lock:
            self.files[path] = (body, content_type)
        return f"{self.url}{path}"

    def expire(self, path: str) -> None:
        with self.lock:
            self.files.pop(path, None)


def wait_for(predicate: Any, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(predicate())
