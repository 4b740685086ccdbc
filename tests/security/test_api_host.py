"""/v1 checks the Host header against ALLOWED_HOSTS, as the console does, and answers a
JSON 400 in the surface's error shape (it used to answer any Host)."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def request(live_server: Any, path: str, host: str) -> tuple[int, dict[str, str], Any]:
    url = urlsplit(live_server.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.putrequest("POST", path, skip_host=True)
        conn.putheader("Host", host)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", "2")
        conn.endheaders(b"{}")
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), json.loads(resp.read())
    finally:
        conn.close()


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/api/v1/embeddings"])
def test_an_unknown_host_gets_a_json_400(live_server: Any, path: str) -> None:
    # when a request names a host this server does not serve
    status, headers, body = request(live_server, path, "attacker.example")
    # then it is refused before anything else, in the OpenAI error shape
    assert status == 400
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Request-Id"].startswith("gen-")
    assert body["error"]["code"] == "invalid_host"
    assert body["error"]["type"] == "invalid_request_error"


def test_an_unknown_host_on_the_anthropic_surface(live_server: Any) -> None:
    status, _, body = request(live_server, "/v1/messages", "attacker.example")
    assert status == 400
    assert body["type"] == "error" and body["error"]["code"] == "invalid_host"


def test_an_allowed_host_goes_on(live_server: Any) -> None:
    # given the live server's own host: the request reaches authentication
    status, _, body = request(live_server, "/v1/chat/completions", urlsplit(live_server.url).netloc)
    assert status == 401 and body["error"]["code"] == "invalid_api_key"
