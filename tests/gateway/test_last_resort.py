"""What a failure of the gateway's own code looks like to a client: a JSON 500 with the
request id in the surface's shape (never Django's HTML page), no charge, the request in its
owner's log, and an admission slot given back, so such failures cannot starve a worker."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from django.test import Client

from billing.models import Hold, LedgerEntry
from gateway.api import surfaces
from gateway.api.middleware import ContentLengthMiddleware
from gateway.models import Generation
from gateway.pipeline import complete, failover
from tests.helpers import assert_not_charged, chat_body

pytestmark = pytest.mark.django_db(transaction=True)

BOOM = "boom"  # a request for this model raises inside the view


@pytest.fixture
def raising_view(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chat surface's validation raises an unforeseen error for model ``boom``: a bug
    inside the view, after the admission slot and the key were taken."""
    validate = surfaces.chat_validate

    def buggy(raw: Any) -> Any:
        if isinstance(raw, dict) and raw.get("model") == BOOM:
            raise RuntimeError("a bug")
        return validate(raw)

    monkeypatch.setattr(surfaces, "chat_validate", buggy)


def test_exceptions_in_views_give_their_admission_slot_back(
    live_server: Any, make_account: Any, make_model: Any, raising_view: None, settings: Any
) -> None:
    # given a short admission wait, so a leaked slot would show as a 503 within a second
    settings.GATEWAY_ADMISSION_TIMEOUT_SECONDS = 1.0
    make_model()
    account = make_account()
    headers = {"Authorization": f"Bearer {account.secret}"}
    url = live_server.url + "/v1/chat/completions"
    with requests.Session() as http:
        # when 100 requests raise inside the view (more than the gate's slots, 14)
        for _ in range(100):
            resp = http.post(url, json=chat_body(BOOM), headers=headers, timeout=10)
            assert resp.status_code == 500
        # then ordinary requests still answer at once
        began = time.monotonic()
        for _ in range(5):
            resp = http.post(url, json=chat_body(), headers=headers, timeout=10)
            assert resp.status_code == 200, resp.text
        assert time.monotonic() - began < 1.0


def test_an_exception_in_a_view_is_a_json_500_with_the_request_id(
    make_account: Any, make_model: Any, raising_view: None
) -> None:
    make_model()
    account = make_account()
    balance = account.balance()
    client = Client(raise_request_exception=False)
    resp = client.post(
        "/v1/chat/completions",
        data=chat_body(BOOM),
        content_type="application/json",
        **account.headers,
    )
    assert resp.status_code == 500
    assert resp["Content-Type"] == "application/json"
    request_id = resp["X-Request-Id"]
    error = resp.json()["error"]
    assert error["code"] == "internal_error"
    assert error["type"] == "api_error"
    assert request_id in error["message"]
    assert_not_charged(account, balance)


def test_an_exception_outside_any_view_is_a_json_500_in_the_surface_shape(
    live_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the API's own middleware fails (no DRF handler is in reach there; live_server
    # serves the project's handler, with the API's middleware chain)
    def broken(self: Any, request: Any) -> Any:
        raise RuntimeError("a bug in middleware")

    monkeypatch.setattr(ContentLengthMiddleware, "__call__", broken)
    for path, anthropic in (("/v1/chat/completions", False), ("/api/v1/messages", True)):
        resp = requests.post(live_server.url + path, json={}, timeout=10)
        assert resp.status_code == 500
        assert resp.headers["Content-Type"] == "application/json"
        assert resp.headers["X-Request-Id"].startswith("gen-")
        body = resp.json()
        if anthropic:
            assert body["type"] == "error"
            assert body["error"]["type"] == "api_error"
        else:
            assert body["error"]["code"] == "internal_error"
        assert resp.headers["X-Request-Id"] in str(body)
        assert b"<html" not in resp.content.lower()
        assert b"Traceback" not in resp.content


def test_an_exception_after_the_hold_releases_it_and_records_the_request(
    make_account: Any, make_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given pricing the answer fails unexpectedly (after the hold, before the settle)
    def broken(**kwargs: Any) -> Any:
        raise ArithmeticError("a bug in pricing")

    monkeypatch.setattr(complete, "cost_compute", broken)
    make_model()
    account = make_account()
    balance = account.balance()
    client = Client(raise_request_exception=False)
    # when a request gets its answer from the upstream
    resp = client.post(
        "/v1/chat/completions", data=chat_body(), content_type="application/json", **account.headers
    )
    # then it is a JSON 500, nothing is charged or held, and the owner's log shows it
    assert resp.status_code == 500
    assert resp.json()["error"]["code"] == "internal_error"
    assert_not_charged(account, balance)
    assert Hold.objects.count() == 0
    record = Generation.objects.get(request_id=resp["X-Request-Id"])
    assert (record.status, record.http_status, record.error_code) == (
        "error",
        500,
        "internal_error",
    )
    assert record.cost == 0
    assert record.model == "test/echo"
    assert LedgerEntry.objects.filter(kind="usage").count() == 0


def test_an_exception_opening_a_stream_releases_its_hold_and_records_it(
    make_account: Any, make_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given recording an upstream attempt fails unexpectedly while a stream is opened
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug while opening a stream")

    monkeypatch.setattr(failover, "record_attempt", broken)  # the driver streams share
    make_model()
    account = make_account()
    balance = account.balance()
    client = Client(raise_request_exception=False)
    resp = client.post(
        "/v1/chat/completions",
        data=chat_body(stream=True),
        content_type="application/json",
        **account.headers,
    )
    # then the client gets a JSON 500, nothing is charged, and the request is in the log
    assert resp.status_code == 500
    assert resp.json()["error"]["code"] == "internal_error"
    assert_not_charged(account, balance)
    record = Generation.objects.get(request_id=resp["X-Request-Id"])
    assert (record.status, record.error_code, record.is_streamed) == (
        "error",
        "internal_error",
        True,
    )
