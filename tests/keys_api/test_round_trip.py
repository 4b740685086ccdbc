"""/v1/keys: a management key provisions an inference key (create, list, get, patch,
delete), each change with its audit row; kinds are refused where they do not belong."""

from __future__ import annotations

import orjson
from django.test import Client

from accounts.models import ApiKey, ApiKeyEvent
from accounts.services import apikey_create, user_create
from tests.helpers import assert_error


def _auth(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def test_round_trip_and_kinds(db: None) -> None:
    user = user_create(email="owner@example.com")
    manager = apikey_create(user=user, name="m", kind="management", ignore_tier=True).secret
    client = Client()
    made = client.post(
        "/v1/keys",
        orjson.dumps({"name": "ci", "limit": 1.5, "limit_reset": "daily"}),
        content_type="application/json",
        **_auth(manager),
    )
    assert made.status_code == 201, made.content
    body = made.json()
    key_hash, secret = body["data"]["hash"], body["key"]
    assert body["data"]["limit"] == 1.5 and body["data"]["limit_credits"] == 1_500_000
    assert body["data"]["limit_reset"] == "daily" and body["data"]["usage"] == 0
    listed = client.get("/v1/keys", **_auth(manager))
    assert listed.status_code == 200 and secret not in listed.content.decode()
    assert listed.json()["data"][0]["hash"] == key_hash
    patched = client.patch(
        f"/api/v1/keys/{key_hash}",
        orjson.dumps({"name": "ci2", "disabled": True}),
        content_type="application/json",
        **_auth(manager),
    )
    assert patched.status_code == 200, patched.content
    assert patched.json()["data"]["name"] == "ci2" and patched.json()["data"]["disabled"] is True
    key = ApiKey.objects.get(prefix=key_hash)
    kinds = list(
        ApiKeyEvent.objects.filter(api_key=key).order_by("id").values_list("kind", flat=True)
    )
    assert kinds == ["created", "revoked", "updated"]
    assert client.delete(f"/v1/keys/{key_hash}", **_auth(manager)).json() == {
        "data": {"success": True}
    }
    assert_error(client.get("/v1/keys", **_auth(secret)), 401, "invalid_api_key")
    inference = apikey_create(user=user, name="i", ignore_tier=True).secret
    assert_error(client.get("/v1/keys", **_auth(inference)), 403, "management_key_required")
    chat = client.post(
        "/v1/chat/completions", b"{}", content_type="application/json", **_auth(manager)
    )
    assert_error(chat, 403, "management_key_not_allowed")
    assert client.get("/v1/key", **_auth(manager)).status_code == 200
    other = user_create(email="other@example.com")
    theirs = apikey_create(user=other, name="x", ignore_tier=True).api_key.prefix
    for method in ("get", "patch", "delete"):
        resp = getattr(client, method)(f"/v1/keys/{theirs}", **_auth(manager))
        assert_error(resp, 404, "key_not_found", "hash")
