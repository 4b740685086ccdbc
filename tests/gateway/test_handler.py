"""The WSGI handler served by gunicorn (and by ``live_server`` in these tests): the API
skips the console's middleware, the console keeps all of it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from config.handler import GatewayWSGIHandler
from config.wsgi import application

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def account(make_account: Any) -> Any:
    return make_account(1_000_000)


def test_the_wsgi_application_is_the_project_handler():
    assert isinstance(application, GatewayWSGIHandler)


def test_api_responses_skip_the_console_middleware(live_server: Any, account: Any):
    resp = requests.get(live_server.url + "/v1/models", timeout=10)
    assert resp.status_code == 200
    assert resp.headers["X-Request-Id"].startswith("gen-")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware still runs
    assert "X-Frame-Options" not in resp.headers
    assert int(resp.headers["Content-Length"]) == len(resp.content)  # keep-alive, unchunked
    assert "Set-Cookie" not in resp.headers and "Cookie" not in resp.headers.get("Vary", "")
    for prefix in ("/v1", "/api/v1"):
        bearer = {"Authorization": f"Bearer {account.secret}"}
        key = requests.get(live_server.url + prefix + "/key", headers=bearer, timeout=10)
        assert key.status_code == 200 and "X-Frame-Options" not in key.headers


def test_a_console_session_does_not_authenticate_the_api(live_server: Any, account: Any):
    browser = requests.Session()
    login = browser.get(live_server.url + "/accounts/login/", timeout=10)
    assert login.status_code == 200
    assert login.headers["X-Frame-Options"] == "DENY"  # the console's chain
    assert "csrftoken" in browser.cookies
    resp = browser.post(live_server.url + "/v1/chat/completions", json={}, timeout=10)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "invalid_api_key"


def test_loading_the_wsgi_application_imports_the_views():
    """A worker imports the URL conf and the views as it starts, not in its first request."""
    code = (
        "import sys; import config.wsgi; "
        "print(all(m in sys.modules"
        " for m in ('config.urls', 'gateway.api.surfaces', 'accounts.views')))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
