"""Chunked request bodies (``Transfer-Encoding: chunked``, no ``Content-Length``) are read
through gunicorn, within ``GATEWAY_MAX_BODY_BYTES``; they used to be read as empty (400)."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from catalog.services import catalog_import
from tests.security.servers import SANDBOX_CATALOG, gunicorn_running

pytestmark = pytest.mark.django_db(transaction=True)

BODY = {"model": "sandbox", "messages": [{"role": "user", "content": "chunked hello"}]}


@pytest.fixture
def sandbox(db: None) -> None:
    catalog_import(data=SANDBOX_CATALOG)


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def post_chunked(base: str, secret: str, body: bytes, size: int = 7) -> tuple[int, Any]:
    """POST ``body`` in chunks of ``size`` bytes, with no Content-Length."""
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        conn.request(
            "POST",
            "/v1/chat/completions",
            body=pieces(body, size),
            headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
            encode_chunked=True,
        )
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def post_chunked_headers(base: str, secret: str) -> tuple[int, Any]:
    """Send the headers of a chunked POST and read the answer."""
    url = urlsplit(base)
    with socket.create_connection((url.hostname, url.port), timeout=30) as conn:
        conn.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n"
            b"Authorization: Bearer " + secret.encode() + b"\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        resp = http.client.HTTPResponse(conn)
        resp.begin()
        return resp.status, json.loads(resp.read())


def test_gunicorn_reads_a_chunked_body(sandbox: None, make_account: Any) -> None:
    # given a key and the sandbox model, served by gunicorn as in production
    account = make_account(1_000_000)
    with gunicorn_running() as base:
        # when the body comes in 7-byte chunks with no Content-Length
        status, data = post_chunked(base, account.secret, json.dumps(BODY).encode())
    # then it is read whole and answered
    assert status == 200, data
    assert "chunked hello" in data["choices"][0]["message"]["content"]
    assert account.balance() == 1_000_000 and account.held() == 0  # free model


def test_gunicorn_refuses_a_chunked_body_over_the_limit(sandbox: None, make_account: Any) -> None:
    # given a 2,000-byte limit
    account = make_account(1_000_000)
    big = json.dumps({**BODY, "user": "x" * 3000}).encode()
    small = json.dumps(BODY).encode()
    with gunicorn_running(GATEWAY_MAX_BODY_BYTES="2000") as base:
        # when a chunked body passes it, in 64 KB chunks or in small ones
        over = [post_chunked(base, account.secret, big, size) for size in (65536, 100)]
        # and one under it is sent after
        under = post_chunked(base, account.secret, small)
    # then the large ones get 413 payload_too_large and the small one is served
    for status, data in over:
        assert status == 413
        assert data["error"]["code"] == "payload_too_large"
    assert under[0] == 200
    assert account.balance() == 1_000_000 and account.held() == 0


def test_gunicorn_answers_400_to_a_malformed_chunked_body(sandbox: None, make_account: Any) -> None:
    # given gunicorn
    account = make_account(1_000_000)
    with gunicorn_running() as base:
        url = urlsplit(base)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        # when a chunk's size line is not hexadecimal
        conn.putrequest("POST", "/v1/chat/completions")
        conn.putheader("Authorization", f"Bearer {account.secret}")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        conn.send(b'5\r\n{"mod\r\nzz\r\n')
        resp = conn.getresponse()
        status, data = resp.status, resp.read()
        conn.close()
    # then it is a client error, not a 500
    assert status == 400, data
    assert json.loads(data)["error"]["code"] == "invalid_request"


def test_development_server_says_length_required(live_server: Any, make_account: Any) -> None:
    # given Django's development server, which does not de-chunk request bodies
    account = make_account(1_000_000)
    # when a chunked request arrives (its headers: the answer needs no more, and a body sent
    # meanwhile would race the server's close)
    status, data = post_chunked_headers(live_server.url, account.secret)
    # then the answer says what to do, rather than that the body is empty
    assert status == 411
    assert data["error"]["code"] == "length_required"
