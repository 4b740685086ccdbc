"""Bad bodies on ``POST /v1/keys`` and ``PATCH /v1/keys/{hash}``: wrong types, NaN and
infinities, huge numbers, bad dates, bad CIDRs, unknown fields, not JSON at all. Each is a
400 in the API's error shape, never a 500, and nothing is created or changed."""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import ApiKey, ApiKeyEvent
from tests.keys_api.support import manager_of

pytestmark = pytest.mark.django_db

GOOD = {"name": "ok", "limit": 1, "limit_reset": "daily"}
BAD_VALUES: dict[str, list[Any]] = {
    "name": ["", "   ", 5, None, [], {"a": 1}, "x" * 101, "a\x00b", True],
    "limit": ["1", -1, 1e300, 10**30, True, [], {}, -0.000001, 1_000_001],
    "limit_reset": ["yearly", "", 1, True, [], {}, "DAILY", "daily "],
    "expires_at": ["tomorrow", "2020-01-01T00:00:00Z", 1, "2099-13-01", "9" * 100, [], True],
    "allowed_models": ["gpt", [1], [""], ["a\x00"], [None], {"a": 1}, ["x"] * 101],
    "allowed_ips": ["10.0.0.0/8", ["10.0.0.0/33"], ["nope"], ["1.2.3.4/x"], [1], ["::1/129"]],
    "rate_limit_rpm": [0, -1, 1.5, "60", True, 10**12, []],
    "disabled": ["yes", 1, None, []],
    "unknown": [1],
    "hash": ["abc"],
}
NON_FINITE = [math.nan, math.inf, -math.inf]


def _send(client: Client, method: str, path: str, secret: str, raw: bytes) -> Any:
    return getattr(client, method)(
        path, raw, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}"
    )


def _assert_400(resp: Any) -> None:
    assert resp.status_code == 400, (resp.status_code, resp.content[:300])
    error = resp.json()["error"]
    assert error["code"] in {"invalid_parameter", "invalid_request", "invalid_json"}, error
    assert error["message"]


@pytest.fixture
def setup(db: None) -> tuple[Client, str, str]:
    _user, manager = manager_of("fuzz@example.com")
    client = Client()
    made = _send(client, "post", "/v1/keys", manager, orjson.dumps({"name": "target"}))
    assert made.status_code == 201
    return client, manager, made.json()["data"]["hash"]


def test_each_bad_field_is_a_400_and_writes_nothing(setup: tuple[Client, str, str]) -> None:
    client, manager, key_hash = setup
    before = list(ApiKey.objects.order_by("pk").values())
    events = ApiKeyEvent.objects.count()
    bodies: list[bytes] = [b"", b"[]", b'"x"', b"null", b"{", b"\xff\xfe", b'{"name": "a"} x']
    for field, values in BAD_VALUES.items():
        for value in values:
            bodies.append(json.dumps({**GOOD, field: value}).encode())
    for value in NON_FINITE:  # orjson writes no NaN: the raw JSON tokens of other clients
        token = {math.inf: b"Infinity", -math.inf: b"-Infinity"}.get(value, b"NaN")
        bodies.append(b'{"name": "n", "limit": ' + token + b"}")
    for raw in bodies:
        _assert_400(_send(client, "post", "/v1/keys", manager, raw))
        _assert_400(_send(client, "patch", f"/v1/keys/{key_hash}", manager, raw))
    assert list(ApiKey.objects.order_by("pk").values()) == before
    assert ApiKeyEvent.objects.count() == events


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)
fields = st.sampled_from([*BAD_VALUES, "name", "limit", "expires_at", "allowed_ips"])


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.dictionaries(fields, json_values, max_size=4), patch=st.booleans())
def test_random_bodies_never_answer_500(
    setup: tuple[Client, str, str], body: dict[str, Any], patch: bool
) -> None:
    client, manager, key_hash = setup
    count = ApiKey.objects.count()
    raw = json.dumps(body).encode()
    if patch:
        resp = _send(client, "patch", f"/v1/keys/{key_hash}", manager, raw)
        assert resp.status_code in (200, 400), (resp.status_code, body, resp.content[:300])
        assert ApiKey.objects.count() == count
    else:
        resp = _send(client, "post", "/v1/keys", manager, raw)
        # a valid body may make a key (then it is revoked, for the tier's count)
        assert resp.status_code in (201, 400), (resp.status_code, body, resp.content[:300])
        if resp.status_code == 201:
            made = resp.json()["data"]["hash"]
            _send(client, "delete", f"/v1/keys/{made}", manager, b"")
        else:
            assert ApiKey.objects.count() == count
    if resp.status_code == 400:
        _assert_400(resp)
