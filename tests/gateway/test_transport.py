"""The upstream connection pool (gateway.providers.transport) against a real local HTTP
server: reuse, the keep-alive race, what is never put back, and the failure types."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.providers import transport
from tests.fakes.handler import FakeServer, JsonHandler


class Handler(JsonHandler):
    """``/ok`` answers with keep-alive; ``/drop`` answers, then closes the connection
    without saying so (what an upstream does to a connection it kept idle too long);
    ``/close`` answers with ``Connection: close``; ``/slow`` waits 0.6 s and never answers."""

    def do_POST(self) -> None:
        server: Any = self.server
        with server.lock:
            server.peers.append(self.client_address[1])
        self._read_json()
        if self.path == "/slow":
            time.sleep(0.6)
            return  # the client has given up: nothing to answer
        if self.path == "/close":
            self.close_connection = True
            self.send_response(200)
            self.send_header("Connection", "close")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
            return
        self._json(200, {"path": self.path})
        if self.path == "/drop":
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True


@pytest.fixture(scope="module")
def running() -> Iterator[Any]:
    srv: Any = FakeServer(0, Handler)
    srv.peers = []
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def server(running: Any) -> Iterator[Any]:
    transport.pools_clear()
    running.peers.clear()
    yield running
    transport.pools_clear()


def post(server: Any, path: str, *, read_timeout: float = 5.0) -> bytes:
    resp = transport.post(
        server.url + path,
        b"{}",
        {"Content-Type": "application/json"},
        connect_timeout=2.0,
        read_timeout=read_timeout,
    )
    assert resp.status == 200
    return resp.data


def test_a_connection_is_reused_once_its_response_was_read(server):
    for _ in range(3):
        assert post(server, "/ok") == b'{"path": "/ok"}'
    assert len(server.peers) == 3
    assert len(set(server.peers)) == 1  # one connection, three requests


def test_a_connection_is_reused_inside_a_request_deadline_too(server):
    # given every call runs under a request's deadline, as the gateway's do
    for _ in range(3):
        with transport.deadline_scope(started=time.monotonic(), seconds=60):
            assert post(server, "/ok") == b'{"path": "/ok"}'
    # then the body read by the deadline still gives its connection back
    assert len(server.peers) == 3
    assert len(set(server.peers)) == 1


def test_a_connection_the_upstream_dropped_while_idle_is_replaced_once(server):
    assert post(server, "/drop") == b'{"path": "/drop"}'
    time.sleep(0.1)  # the upstream has closed the pooled connection by now
    assert post(server, "/ok") == b'{"path": "/ok"}'
    # the request was sent on the dead connection (never received), then on a new one
    assert len(server.peers) == 2 and server.peers[0] != server.peers[1]


def test_connection_close_and_unread_bodies_are_not_pooled(server):
    post(server, "/close")
    post(server, "/ok")
    assert server.peers[0] != server.peers[1]
    resp = transport.post(server.url + "/ok", b"{}", {}, connect_timeout=2.0, read_timeout=5.0)
    resp.release()  # the body was never read: the connection cannot carry another request
    post(server, "/ok")
    assert len(set(server.peers)) == 3


def test_an_idle_connection_past_its_age_is_not_reused(server, monkeypatch):
    post(server, "/ok")
    monkeypatch.setattr(transport, "IDLE_SECONDS", 0.0)
    post(server, "/ok")
    assert server.peers[0] != server.peers[1]


def test_a_refused_connection_and_a_read_timeout_have_their_own_errors(server):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    with pytest.raises(transport.ConnectFailed):
        transport.post(
            f"http://127.0.0.1:{port}/x", b"{}", {}, connect_timeout=1.0, read_timeout=1.0
        )
    began = time.monotonic()
    with pytest.raises(TimeoutError):
        post(server, "/slow", read_timeout=0.2)
    assert time.monotonic() - began < 0.5
    post(server, "/ok")  # the timed-out connection was dropped, not pooled
    assert len(set(server.peers)) == 2
