"""Every page of accounts' console renders under the strict CSP: one stylesheet, the one
first-party script, no inline script or style, nothing from another origin."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.models import User
from accounts.services import apikey_create

ANONYMOUS = ["/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"]
SIGNED_IN = ["/keys/", "/account/"]


def assert_first_party_only(body: str) -> None:
    assert re.findall(r'<link rel="stylesheet" href="([^"]+)"', body) == ["/static/css/console.css"]
    assert re.findall(r"<script[^>]*>", body) == ['<script src="/static/js/console.js" defer>']
    assert "<style" not in body and " style=" not in body and " on" + "click=" not in body
    assert "http://" not in body and "https://" not in body and "//" + "cdn" not in body


@pytest.mark.parametrize("path", ANONYMOUS)
def test_anonymous_pages(db: None, path: str) -> None:
    resp = Client().get(path)
    assert resp.status_code == 200
    assert "default-src 'self'" in resp["Content-Security-Policy"]
    assert_first_party_only(resp.content.decode())


@pytest.mark.parametrize("path", SIGNED_IN)
def test_signed_in_pages(owner: User, path: str) -> None:
    key = apikey_create(user=owner, name="k").api_key
    client = Client()
    client.force_login(owner)
    for url in (path, f"/keys/{key.pk}/edit/"):
        resp = client.get(url)
        assert resp.status_code == 200
        assert "default-src 'self'" in resp["Content-Security-Policy"]
        assert_first_party_only(resp.content.decode())
