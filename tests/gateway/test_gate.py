"""The admission gate (gateway.pipeline.gate) bounds requests in their database phase; a client that
is slow to send its body is not in that phase, so it cannot take a slot from others."""

from __future__ import annotations

import socket
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from gateway.models import Generation
from tests.helpers import chat_body

pytestmark = pytest.mark.django_db(transaction=True)

SLOW_CLIENTS = 30  # more than the gate's slots per process (GATEWAY_DB_ADMISSIONS, 14)


def test_clients_slow_to_send_their_body_hold_no_admission_slot(
    live_server: Any, make_account: Any, make_model: Any, settings: Any
) -> None:
    # given a short admission wait, so a taken slot would show as a 503 within a second
    settings.GATEWAY_ADMISSION_TIMEOUT_SECONDS = 1.0
    make_model()
    account = make_account()
    url = urlsplit(live_server.url)
    slow: list[socket.socket] = []
    try:
        # when 30 clients with a valid key send their headers and a tenth of the body, then wait
        for _ in range(SLOW_CLIENTS):
            conn = socket.create_connection((url.hostname, url.port), timeout=10)
            conn.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n"
                b"Authorization: Bearer " + account.secret.encode() + b"\r\n"
                b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"mod'
            )
            slow.append(conn)
        time.sleep(0.5)  # each is now waiting inside the server for the rest of its body
        # then an ordinary request is served at once
        began = time.monotonic()
        resp = requests.post(
            live_server.url + "/v1/chat/completions",
            json=chat_body(),
            headers={"Authorization": f"Bearer {account.secret}"},
            timeout=10,
        )
        assert resp.status_code == 200, resp.text
        assert time.monotonic() - began < 1.0
    finally:
        for conn in slow:
            conn.close()
        _wait_for_refusals(account.user, SLOW_CLIENTS)


def _wait_for_refusals(user: Any, expected: int, timeout: float = 5.0) -> None:
    """Let the server finish the cut-short requests (each is recorded as refused) before the
    test's tables are emptied: a refusal committing during that TRUNCATE deadlocks with it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Generation.objects.filter(user=user, status="refused").count() >= expected:
            return
        time.sleep(0.05)
