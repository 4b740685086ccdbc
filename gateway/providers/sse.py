"""Server-sent events read as they arrive (``iter_content(chunk_size=None)`` returns
whatever the socket has, where ``iter_lines`` would wait to fill its buffer)."""

from __future__ import annotations

from collections.abc import Iterator

import requests


def sse_events(resp: requests.Response) -> Iterator[str]:
    """The ``data`` payloads of the stream, one string per event."""
    buffer = b""
    data: list[bytes] = []
    for piece in resp.iter_content(chunk_size=None):
        buffer += piece
        while True:
            cut = buffer.find(b"\n")
            if cut < 0:
                break
            line = buffer[:cut].rstrip(b"\r")
            buffer = buffer[cut + 1 :]
            if not line:
                if data:
                    yield b"\n".join(data).decode()
                    data = []
                continue
            if line.startswith(b"data:"):
                data.append(line[5:].lstrip(b" "))
    if data:
        yield b"\n".join(data).decode()
