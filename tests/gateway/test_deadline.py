"""The request deadline in the upstream transport (gateway.providers.transport), against a
real local HTTP server: an upstream slow to answer, or trickling its body a byte at a time
(each read well within the read timeout), still ends at the deadline."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.providers import transport
from gateway.providers.transport import DeadlineExceeded, deadline_scope
from tests.fakes.handler import FakeServer, JsonHandler


class Handler(JsonHandler):
    """``/late``: headers after 3 s; ``/trickle``: headers at once, then a 100-byte body
    one byte every 0.1 s (10 s in all); ``/ok``: an answer at once."""

    def do_POST(self) -> None:
        self._read_json()
        if self.path == "/late":
            time.sleep(3)
        self.close_connection = True
        try:
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            if self.path != "/trickle":
                self.wfile.write(b"x" * 100)
                return
            for _ in range(100):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the gateway gave up at its deadline


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    srv: Any = FakeServer(0, Handler)
    srv.start()
    yield srv
    srv.stop()
    transport.pools_clear()


def post(server: Any, path: str) -> transport.Response:
    return transport.post(server.url + path, b"{}", {}, connect_timeout=5.0, read_timeout=5.0)


def test_an_upstream_slow_to_answer_ends_at_the_deadline(server: Any) -> None:
    began = time.monotonic()
    with deadline_scope(started=began, seconds=1.0), pytest.raises(DeadlineExceeded) as info:
        post(server, "/late")
    assert 0.9 <= time.monotonic() - began < 1.6
    assert info.value.message == "The request reached its deadline of 1 s"
    assert info.value.retryable is False


def test_a_trickled_body_ends_at_the_deadline(server: Any) -> None:
    began = time.monotonic()
    with deadline_scope(started=began, seconds=1.0):
        resp = post(server, "/trickle")
        with pytest.raises(DeadlineExceeded):
            resp.data  # noqa: B018 - reading the body is the call under test
    assert 0.9 <= time.monotonic() - began < 1.6


def test_a_passed_deadline_fails_at_once_and_the_call_is_unchanged_outside(server: Any) -> None:
    with deadline_scope(started=time.monotonic() - 5, seconds=1.0):
        began = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            post(server, "/ok")
        assert time.monotonic() - began < 0.1
    assert post(server, "/ok").data == b"x" * 100
