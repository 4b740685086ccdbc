"""CORS (django-cors-headers in the API's middleware): a browser's preflight to /v1 or
/api/v1 is answered without a key, any origin by default and never with credentials; the
API's answers expose its request id, rate-limit and replay headers; GATEWAY_CORS_ORIGINS
narrows the origins; the console and admin answer no CORS header at all."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.factories import AccountFactory, ModelFactory
from tests.helpers import chat_body

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = "https://app.example.org"
ASKED = "authorization, x-api-key, anthropic-version, anthropic-beta, idempotency-key, content-type"
ALLOWED = {
    "authorization",
    "x-api-key",
    "anthropic-version",
    "anthropic-beta",
    "idempotency-key",
    "content-type",
}
EXPOSED = {
    "x-request-id",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "retry-after",
    "idempotent-replayed",
}


def preflight(url: str, origin: str = ORIGIN) -> requests.Response:
    return requests.options(
        url,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": ASKED,
        },
        timeout=10,
    )


def names(value: str) -> set[str]:
    return {part.strip().lower() for part in value.split(",")}


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/api/v1/messages"])
def test_a_preflight_is_answered_without_a_key(live_server: Any, path: str) -> None:
    resp = preflight(live_server.url + path)
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert names(resp.headers["Access-Control-Allow-Headers"]) == ALLOWED
    assert "post" in names(resp.headers["Access-Control-Allow-Methods"])
    assert "Access-Control-Allow-Credentials" not in resp.headers
    assert resp.content == b""


def test_an_api_answer_exposes_its_headers(
    live_server: Any, make_model: ModelFactory, make_account: AccountFactory
) -> None:
    make_model("test/echo")
    account = make_account(10_000_000, rate_limit_rpm=50)
    resp = requests.post(
        live_server.url + "/v1/chat/completions",
        json=chat_body(),
        headers={"Origin": ORIGIN, "Authorization": f"Bearer {account.secret}"},
        timeout=30,
    )
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert names(resp.headers["Access-Control-Expose-Headers"]) == EXPOSED
    assert "Access-Control-Allow-Credentials" not in resp.headers
    # an error answer is readable by the page too
    refused = requests.post(
        live_server.url + "/v1/chat/completions",
        json=chat_body(),
        headers={"Origin": ORIGIN},
        timeout=30,
    )
    assert refused.status_code == 401
    assert refused.headers["Access-Control-Allow-Origin"] == "*"


def test_configured_origins_allow_only_those(live_server: Any, settings: Any) -> None:
    settings.CORS_ALLOW_ALL_ORIGINS = False
    settings.CORS_ALLOWED_ORIGINS = [ORIGIN]
    allowed = preflight(live_server.url + "/v1/chat/completions")
    assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
    other = preflight(live_server.url + "/v1/chat/completions", origin="https://evil.example")
    assert "Access-Control-Allow-Origin" not in other.headers


@pytest.mark.parametrize("path", ["/dashboard/", "/admin/", "/admin/login/", "/accounts/login/"])
def test_the_console_and_admin_answer_no_cors_header(live_server: Any, path: str) -> None:
    for resp in (
        preflight(live_server.url + path),
        requests.get(live_server.url + path, headers={"Origin": ORIGIN}, timeout=10),
    ):
        assert not [h for h in resp.headers if h.lower().startswith("access-control-")], (
            resp.status_code,
            dict(resp.headers),
        )
