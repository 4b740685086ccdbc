"""Who may read /metrics: this machine (a loopback address reached directly), and anyone
else with ``Authorization: Bearer $METRICS_TOKEN``; without a token set, no one else. The
probes are open to all."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-0123456789"


def get(path: str = "/metrics", *, addr: str, **headers: str) -> tuple[int, dict | str]:
    resp = Client(REMOTE_ADDR=addr).get(path, **headers)
    text = resp.content.decode()
    if resp["Content-Type"] == "application/json":
        return resp.status_code, json.loads(text)
    return resp.status_code, text


@pytest.mark.parametrize("addr", ["127.0.0.1", "127.0.0.53", "::1", "::ffff:127.0.0.1"])
def test_loopback_reads_metrics_without_a_token(addr: str) -> None:
    status, text = get(addr=addr)
    assert status == 200
    assert isinstance(text, str) and "# TYPE gateway_requests_total counter" in text


@override_settings(METRICS_TOKEN="")
@pytest.mark.parametrize("addr", ["10.0.0.5", "203.0.113.9", "2001:db8::1", "not-an-address"])
def test_without_a_token_other_addresses_are_refused(addr: str) -> None:
    status, body = get(addr=addr, HTTP_AUTHORIZATION="Bearer anything")
    assert status == 403
    assert isinstance(body, dict) and body["error"]["code"] == "forbidden"


@override_settings(METRICS_TOKEN="")
def test_loopback_through_a_proxy_is_not_this_machine() -> None:
    # a proxy on this machine relays someone else's request: not loopback
    status, body = get(addr="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert status == 403 and isinstance(body, dict) and body["error"]["code"] == "forbidden"


@override_settings(METRICS_TOKEN=TOKEN)
@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer wrong", f"Bearer {TOKEN}x", f"Basic {TOKEN}", "Bearer tökén"],
)
def test_other_addresses_need_the_token(authorization: str | None) -> None:
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    resp = Client(REMOTE_ADDR="10.0.0.5").get("/metrics", **headers)
    assert resp.status_code == 401
    assert json.loads(resp.content)["error"]["code"] == "invalid_token"
    assert resp["WWW-Authenticate"].startswith("Bearer")


@override_settings(METRICS_TOKEN=TOKEN)
def test_the_token_opens_metrics_to_other_addresses() -> None:
    status, text = get(addr="10.0.0.5", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert status == 200 and "gateway_credits_charged_total" in str(text)
    # the scheme is case-insensitive, as RFC 6750 says
    status, _ = get(addr="10.0.0.5", HTTP_AUTHORIZATION=f"bearer {TOKEN}")
    assert status == 200


@override_settings(METRICS_TOKEN="", GATEWAY_READY_SWEEP_SECONDS=3600)
def test_the_probes_are_open_to_every_address() -> None:
    assert get("/healthz", addr="203.0.113.9") == (200, {"status": "ok"})
    status, body = get("/readyz", addr="203.0.113.9")
    assert status == 200 and isinstance(body, dict) and body["status"] == "ok"


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_the_probes_skip_the_consoles_middleware(live_server: Any, path: str) -> None:
    # served by the project's handler (as gunicorn serves it): the API's chain
    # (API_PATH_PREFIXES), so no CSP header, no cookie, and the request id
    resp = requests.get(live_server.url + path, timeout=10)
    assert resp.status_code in (200, 503)
    assert "Content-Security-Policy" not in resp.headers
    assert "Set-Cookie" not in resp.headers
    assert resp.headers["X-Request-Id"].startswith("gen-")
    # while the console's pages get the console's chain
    assert "Content-Security-Policy" in requests.get(live_server.url + "/", timeout=10).headers
