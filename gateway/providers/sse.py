"""Server-sent events read as they arrive: ``raw.read1()`` returns whatever the socket has.
(``iter_lines`` waits to fill its buffer, and ``iter_content(chunk_size=None)`` reads a
close-delimited body, one without chunked framing, to its very end.)"""

from __future__ import annotations

from collections.abc import Iterator

from gateway.providers.base import ProviderError
from gateway.providers.transport import Response, TransportError

_READ_SIZE = 65536


def _pieces(resp: Response) -> Iterator[bytes]:
    try:
        while True:
            piece = resp.read1(_READ_SIZE)
            if not piece:
                return
            yield piece
    except TransportError as exc:
        raise ProviderError(
            f"Upstream stream broke: {exc.__class__.__name__}", retryable=True
        ) from exc


def sse_events(resp: Response) -> Iterator[str]:
    """The ``data`` payloads of the stream, one string per event."""
    buffer = b""
    data: list[bytes] = []
    for piece in _pieces(resp):
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
