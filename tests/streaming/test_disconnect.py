"""A client that goes away mid-stream: the upstream is closed at once, what was delivered is
charged, and the record says ``cancelled``."""

from __future__ import annotations

import socket
import struct
import time
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
import requests

from gateway.models import Generation
from tests.factories import AccountFactory, ModelFactory
from tests.fakes.upstream import FakeUpstream
from tests.helpers import cost_of
from tests.sse import estimate, estimated_completion, ledger_verified

pytestmark = pytest.mark.usefixtures("transactional_db")

START = 10_000_000
TEXT = " ".join(f"w{i}" for i in range(1, 21))


def stream_open_raw(url: str, secret: str, body: dict[str, Any]) -> socket.socket:
    """Send a streaming request over a plain socket (so the test decides how it closes)."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    payload = orjson.dumps(body)
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\n"
        f"Host: {parts.netloc}\r\n"
        f"Authorization: Bearer {secret}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    sock.sendall(head.encode() + payload)
    return sock


def read_content_chunks(sock: socket.socket, count: int) -> list[str]:
    """Read the response until ``count`` chunks with text have arrived; their texts."""
    buffer, pieces = b"", []
    while len(pieces) < count:
        data = sock.recv(65536)
        assert data, f"stream ended after {pieces}"
        buffer += data
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            line = event.rpartition(b"\r\n\r\n")[2]  # the first event follows the headers
            if line.startswith(b"data: {"):
                for choice in orjson.loads(line[6:]).get("choices") or []:
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        pieces.append(text)
    return pieces


def abort(sock: socket.socket) -> None:
    """Close with a reset, as a killed client does: the server's next write fails."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def generation_wait(request_count: int, timeout: float = 5.0) -> Generation:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        gen = Generation.objects.first()
        if gen is not None and Generation.objects.count() == request_count:
            return gen
        time.sleep(0.05)
    raise AssertionError("the stream was never settled")


def test_client_disconnect_charges_the_delivered_chunks_and_closes_the_upstream(
    live_server: Any, make_model: ModelFactory, make_account: AccountFactory, upstream: FakeUpstream
) -> None:
    # given a slow stream of 20 words and an account
    make_model("test/stream", upstream_models=("echo",), prompt="20", completion="55")
    account = make_account(START)
    upstream.chunk_delay = 0.15
    gone_before = upstream.disconnects
    body = {"model": "test/stream", "stream": True, "messages": [{"role": "user", "content": TEXT}]}
    # when the client reads three content chunks and then goes away
    sock = stream_open_raw(live_server.url, account.secret, body)
    pieces = read_content_chunks(sock, 3)
    abort(sock)
    # then the stream is settled as cancelled, charged for those three chunks only
    assert pieces == ["echo:", " w1", " w2"]
    gen = generation_wait(1)
    prompt, completion = estimate(TEXT), estimated_completion(pieces)
    assert (prompt, completion) == (18, 3)  # ceil(71 bytes / 4); max(3, ceil(11 / 4))
    expected = cost_of(
        prompt_tokens=prompt, completion_tokens=completion, prompt="20", completion="55"
    )
    assert expected == 18 * 20 + 3 * 55 == 525
    assert (gen.status, gen.cost, gen.usage_estimated) == ("cancelled", expected, True)
    assert (gen.prompt_tokens, gen.completion_tokens) == (18, 3)
    assert gen.ledger_entry is not None and gen.ledger_entry.amount == -expected
    assert account.balance() == START - expected
    # and the fake upstream saw its connection closed long before the 20 words were sent
    assert upstream.disconnects_wait(gone_before + 1) == gone_before + 1
    assert len(upstream.requests) == 1
    ledger_verified(account)
    # and the record, as the API shows it, says the client cancelled
    record = requests.get(
        f"{live_server.url}/v1/generation?id={gen.request_id}",
        headers={"Authorization": f"Bearer {account.secret}"},
        timeout=10,
    ).json()["data"]
    assert (record["status"], record["cancelled"], record["streamed"]) == ("cancelled", True, True)
    assert (record["cost"], record["usage_estimated"]) == (expected, True)
