"""/v1/keys against a live server with plain ``requests``: the provisioning round trip (the
new secret answers a chat completion from the fake upstream), another user's keys out of
reach, offset and limit (and their refusals), and the audit rows each change writes, the
same as the console's."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import ApiKey, ApiKeyEvent
from billing.services import credits_grant
from tests.factories import ModelFactory
from tests.fakes.upstream import FakeUpstream
from tests.helpers import chat_body
from tests.keys_api.support import call, manager_of

pytestmark = pytest.mark.django_db(transaction=True)


def _error(resp: Any, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["code"] == code and error["message"], error


def test_round_trip_and_the_secret_works(
    live_server: Any, make_model: ModelFactory, upstream: FakeUpstream
) -> None:
    make_model("test/echo")
    user, manager = manager_of("owner@example.com")
    credits_grant(user_id=user.pk, amount=1_000_000, memo="test")
    api = call(live_server.url, manager)
    made = api("POST", "/v1/keys", {"name": "ci", "limit": 0.25, "limit_reset": "weekly"})
    assert made.status_code == 201, made.text
    data, secret = made.json()["data"], made.json()["key"]
    key_hash = data["hash"]
    assert secret.startswith(f"sk-{key_hash}-")
    assert (data["limit"], data["limit_credits"], data["limit_reset"]) == (0.25, 250_000, "weekly")
    assert data["is_management_key"] is False and data["disabled"] is False
    listed = api("GET", "/v1/keys")
    assert listed.status_code == 200 and secret not in listed.text
    assert [k["hash"] for k in listed.json()["data"]][:1] == [key_hash]
    one = api("GET", f"/v1/keys/{key_hash}")
    assert one.status_code == 200 and one.json()["data"] == data
    # the secret, shown once, calls a model: charged to the key and counted on it
    chat = call(live_server.url, secret)("POST", "/v1/chat/completions", chat_body(text="hi"))
    assert chat.status_code == 200, chat.text
    cost = chat.json()["usage"]["cost"]
    assert cost > 0 and len(upstream.requests) == 1
    after = api("GET", f"/v1/keys/{key_hash}").json()["data"]
    assert after["usage_credits"] == after["usage_weekly_credits"] == cost
    assert after["limit_remaining_credits"] == 250_000 - cost
    own = call(live_server.url, secret)("GET", "/v1/key").json()["data"]
    assert own["usage_credits"] == cost and own["limit_remaining_credits"] == 250_000 - cost
    assert own["is_management_key"] is False and own["limit_reset"] == "weekly"
    patched = api("PATCH", f"/v1/keys/{key_hash}", {"name": "ci2", "limit": None})
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"]["name"] == "ci2" and patched.json()["data"]["limit"] is None
    assert patched.json()["data"]["limit_reset"] is None  # no limit: nothing resets
    deleted = api("DELETE", f"/v1/keys/{key_hash}")
    assert deleted.status_code == 200 and deleted.json() == {"data": {"success": True}}
    _error(call(live_server.url, secret)("GET", "/v1/key"), 401, "invalid_api_key")
    assert api("GET", f"/v1/keys/{key_hash}").json()["data"]["disabled"] is True


def test_another_users_keys_are_out_of_reach(live_server: Any) -> None:
    _mine, manager = manager_of("a@example.com")
    _theirs, their_manager = manager_of("b@example.com")
    api, their_api = call(live_server.url, manager), call(live_server.url, their_manager)
    theirs = their_api("POST", "/v1/keys", {"name": "private"}).json()["data"]["hash"]
    before = list(ApiKey.objects.values_list("pk", "name", "is_disabled", "revision"))
    events = ApiKeyEvent.objects.count()
    for method, body in (("GET", None), ("PATCH", {"name": "stolen"}), ("DELETE", None)):
        _error(api(method, f"/v1/keys/{theirs}", body), 404, "key_not_found")
    assert theirs not in api("GET", "/v1/keys").text
    assert theirs in their_api("GET", "/v1/keys").text
    assert list(ApiKey.objects.values_list("pk", "name", "is_disabled", "revision")) == before
    assert ApiKeyEvent.objects.count() == events
    # a hash that only starts like theirs, or an unknown one, is 404 too
    _error(api("GET", f"/v1/keys/{theirs}x"), 404, "key_not_found")
    _error(api("GET", "/v1/keys/nope"), 404, "key_not_found")


def test_offset_and_limit(live_server: Any) -> None:
    _user, manager = manager_of("pages@example.com")
    api = call(live_server.url, manager)
    made = [api("POST", "/v1/keys", {"name": f"k{i}"}).json()["data"]["hash"] for i in range(4)]
    every = [k["hash"] for k in api("GET", "/v1/keys").json()["data"]]
    assert len(every) == 5 and set(made) < set(every)  # and the management key itself
    page = api("GET", "/v1/keys", params={"offset": 2, "limit": 2}).json()["data"]
    assert [k["hash"] for k in page] == every[2:4]
    assert api("GET", "/v1/keys", params={"offset": 5}).json()["data"] == []
    assert len(api("GET", "/v1/keys", params={"limit": 0}).json()["data"]) == 0
    for params in (
        {"offset": -1},
        {"offset": "x"},
        {"limit": 101},
        {"limit": "1.5"},
        {"limit": "1e3"},
        {"offset": "99999999999"},
        {"limit": "٣"},  # a digit to str.isdigit, not a number
    ):
        resp = api("GET", "/v1/keys", params=params)
        _error(resp, 400, "invalid_parameter")
        assert resp.json()["error"]["param"] == next(iter(params))


def test_every_change_writes_the_consoles_audit_rows(live_server: Any) -> None:
    user, manager = manager_of("audit@example.com")
    api = call(live_server.url, manager)
    key_hash = api("POST", "/v1/keys", {"name": "via-api"}).json()["data"]["hash"]
    api("PATCH", f"/v1/keys/{key_hash}", {"limit": 1, "limit_reset": "daily"})
    api("PATCH", f"/v1/keys/{key_hash}", {"name": "via-api"})  # no change: no row
    api("DELETE", f"/v1/keys/{key_hash}")
    via_api = ApiKey.objects.get(prefix=key_hash)
    # the same changes through the console
    console = Client()
    console.force_login(user)
    resp = console.post("/keys/", {"name": "via-console", "kind": "inference"})
    assert resp.status_code == 303, resp.content
    via_console = ApiKey.objects.get(name="via-console")
    edit = {"name": "via-console", "monthly_limit_usd": "1", "limit_reset": "daily"}
    edit["rate_limit_rpm"] = str(via_console.rate_limit_rpm)  # unchanged, as the API leaves it
    assert console.post(f"/keys/{via_console.pk}/edit/", edit).status_code == 303
    assert console.post(f"/keys/{via_console.pk}/revoke/").status_code == 302

    def rows(key: ApiKey) -> list[tuple[str, int | None, Any]]:
        events = ApiKeyEvent.objects.filter(api_key=key).order_by("id")
        return [(e.kind, e.actor_id, sorted(e.detail)) for e in events]

    assert rows(via_api) == rows(via_console)
    assert [kind for kind, _actor, _detail in rows(via_api)] == ["created", "updated", "revoked"]
    assert {actor for _kind, actor, _detail in rows(via_api)} == {user.pk}
    updated = ApiKeyEvent.objects.get(api_key=via_api, kind="updated").detail
    assert updated == ApiKeyEvent.objects.get(api_key=via_console, kind="updated").detail
