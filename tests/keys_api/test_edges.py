"""/v1/keys at its edges: a revoked key stays revoked (so the tier's key count holds), dates
past the last year a datetime holds once in UTC, and limits finer than one credit."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from django.test import Client

from accounts.models import ApiKey, ApiKeyEvent
from accounts.services import apikey_create, user_create
from tests.helpers import assert_error


def _auth(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def _send(client: Client, method: str, path: str, secret: str, body: Any = None) -> Any:
    data = orjson.dumps(body) if body is not None else b""
    return getattr(client, method)(path, data, content_type="application/json", **_auth(secret))


@pytest.fixture
def manager(db: None) -> tuple[Any, str]:
    user = user_create(email="owner@example.com")
    return user, apikey_create(user=user, name="m", kind="management", ignore_tier=True).secret


def test_a_revoked_key_cannot_be_enabled_again(manager: tuple[Any, str]) -> None:
    _, secret = manager
    client = Client()
    made = _send(client, "post", "/v1/keys", secret, {"name": "once"}).json()
    key_hash, key_secret = made["data"]["hash"], made["key"]
    assert _send(client, "delete", f"/v1/keys/{key_hash}", secret).status_code == 200
    events = ApiKeyEvent.objects.filter(api_key__prefix=key_hash).count()
    # when the revoked key is switched back on
    resp = _send(client, "patch", f"/v1/keys/{key_hash}", secret, {"disabled": False})
    # then it is refused, the key stays off, its secret still refused, and no audit row added
    assert_error(resp, 409, "key_revoked")
    assert ApiKey.objects.get(prefix=key_hash).is_disabled is True
    assert ApiKeyEvent.objects.filter(api_key__prefix=key_hash).count() == events
    assert Client().get("/v1/key", **_auth(key_secret)).status_code == 401


def test_the_tier_key_count_holds_after_revocations(manager: tuple[Any, str]) -> None:
    user, secret = manager
    client = Client()
    made = []
    while True:
        resp = _send(client, "post", "/v1/keys", secret, {"name": f"k{len(made)}"})
        if resp.status_code != 201:
            assert_error(resp, 403, "key_limit")
            break
        made.append(resp.json()["data"]["hash"])
    usable = ApiKey.objects.filter(user=user, is_disabled=False).count()
    _send(client, "delete", f"/v1/keys/{made[0]}", secret)
    # the freed place takes one new key, and the revoked one cannot come back beside it
    assert _send(client, "post", "/v1/keys", secret, {"name": "new"}).status_code == 201
    resp = _send(client, "patch", f"/v1/keys/{made[0]}", secret, {"disabled": False})
    assert_error(resp, 409, "key_revoked")
    assert ApiKey.objects.filter(user=user, is_disabled=False).count() == usable


@pytest.mark.parametrize(
    "when",
    [
        "9999-12-31T23:59:59-12:00",
        "9999-12-31T23:59:59.999999-00:01",
        "9999-06-01T00:00:00Z",
        "9999-01-01T00:00:00+00:00",
    ],
)
def test_expiry_past_the_last_year_is_400(manager: tuple[Any, str], when: str) -> None:
    _, secret = manager
    client = Client()
    before = ApiKey.objects.count()
    resp = _send(client, "post", "/v1/keys", secret, {"name": "far", "expires_at": when})
    assert_error(resp, 400, "invalid_parameter", param="expires_at")
    assert ApiKey.objects.count() == before
    key_hash = _send(client, "post", "/v1/keys", secret, {"name": "near"}).json()["data"]["hash"]
    resp = _send(client, "patch", f"/v1/keys/{key_hash}", secret, {"expires_at": when})
    assert_error(resp, 400, "invalid_parameter", param="expires_at")
    assert ApiKey.objects.get(prefix=key_hash).expires_at is None


def test_the_last_accepted_expiry_is_stored_exactly(manager: tuple[Any, str]) -> None:
    _, secret = manager
    body = {"name": "late", "expires_at": "9998-12-31T11:00:00-12:00"}
    resp = _send(Client(), "post", "/v1/keys", secret, body)
    assert resp.status_code == 201, resp.content
    assert resp.json()["data"]["expires_at"].startswith("9998-12-31T23:00:00")


@pytest.mark.parametrize(("limit", "credits"), [(0.000001, 1), (12.345678, 12_345_678), (0, 0)])
def test_limits_in_whole_credits_are_kept_exactly(
    manager: tuple[Any, str], limit: float, credits: int
) -> None:
    _, secret = manager
    resp = _send(Client(), "post", "/v1/keys", secret, {"name": "l", "limit": limit})
    assert resp.status_code == 201, resp.content
    assert resp.json()["data"]["limit_credits"] == credits


@pytest.mark.parametrize("limit", [0.0000001, 1.0000005, 12.3456789])
def test_a_limit_finer_than_one_credit_is_400(manager: tuple[Any, str], limit: float) -> None:
    _, secret = manager
    before = ApiKey.objects.count()
    resp = _send(Client(), "post", "/v1/keys", secret, {"name": "l", "limit": limit})
    assert_error(resp, 400, "invalid_parameter", param="limit")
    assert ApiKey.objects.count() == before
