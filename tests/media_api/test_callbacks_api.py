"""A task's callback as the API's client meets it: the body POSTed when the task ends is
the task ``GET /v1/tasks/{id}`` answers, signed with the owner's secret; a cancel is
announced as failed. And a task's record is in ``/v1/generation`` under the creating
request's ``X-Request-Id``."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from django.utils import timezone

from accounts.services import callback_secret_get
from gateway.media import engine
from gateway.media.callbacks import callbacks_deliver
from tests.factories import AccountFactory
from tests.fakes.media import FakeMedia
from tests.helpers import ApiClient
from tests.media_api.conftest import AUDIO_SECOND, START, VIDEO_SECOND
from tests.media_delivery.servers import Receiver

pytestmark = [pytest.mark.usefixtures("transactional_db", "media_models")]


@pytest.fixture(scope="module")
def _receiver_server() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def receiver(_receiver_server: Receiver, settings: Any) -> Receiver:
    """The receiver (on 127.0.0.1, so private callback addresses are allowed)."""
    settings.GATEWAY_CALLBACKS_ALLOW_PRIVATE = True
    return _receiver_server.reset()


def _header(received: dict[str, Any], name: str) -> str:
    return {k.lower(): v for k, v in received["headers"].items()}[name]


def test_the_callback_is_the_task_signed(
    api: ApiClient, make_account: AccountFactory, media_upstream: FakeMedia, receiver: Receiver
) -> None:
    account = make_account(START)
    hook = receiver.url + "/hooks/gw"
    body = {"model": "acme/vid", "prompt": "p", "duration": 2, "callback_url": hook}
    resp = api.post("/v1/videos", body, account=account)
    task_id = resp.json()["id"]
    # the task's record is under the creating request's id
    request_id = resp["X-Request-Id"]
    for minutes in (2, 4):
        engine.tasks_poll_due(now=timezone.now() + dt.timedelta(minutes=minutes))
    report = callbacks_deliver()
    assert (report.sent, report.delivered) == (1, 1)
    [received] = receiver.received
    assert received["path"] == "/hooks/gw"
    # the body is the task as the API shows it, with the same links
    shown = api.get(f"/v1/tasks/{task_id}", account=account).json()
    assert orjson.loads(received["body"]) == shown
    assert (shown["status"], shown["cost"]) == ("succeeded", 2 * VIDEO_SECOND)
    assert _header(received, "x-api-key-event") == "gateway.task.completed"
    assert _header(received, "x-api-key-task-id") == task_id
    timestamp = _header(received, "x-api-key-timestamp")
    secret = callback_secret_get(account.user)
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + received["body"], hashlib.sha256
    ).hexdigest()
    assert _header(received, "x-api-key-signature") == expected
    # /v1/generation has the task's charge
    record = api.get(f"/v1/generation?id={request_id}", account=account)
    assert record.status_code == 200
    data = record.json()["data"]
    assert (data["surface"], data["status"], data["model"]) == ("videos", "success", "acme/vid")
    assert data["cost"] == 2 * VIDEO_SECOND
    assert data["native_usage"]["video_seconds"] == "2"


def test_a_cancel_is_announced_as_failed(
    api: ApiClient, make_account: AccountFactory, media_upstream: FakeMedia, receiver: Receiver
) -> None:
    account = make_account(START)
    hook = receiver.url + "/hooks/gw"
    body = {"model": "acme/song-never", "prompt": "p", "duration": 4, "callback_url": hook}
    task_id = api.post("/v1/music/generations", body, account=account).json()["id"]
    assert account.held() == 4 * AUDIO_SECOND
    api.post(f"/v1/tasks/{task_id}/cancel", account=account)
    callbacks_deliver()
    [received] = receiver.received
    assert _header(received, "x-api-key-event") == "gateway.task.failed"
    sent = orjson.loads(received["body"])
    assert (sent["status"], sent["cost"], sent["error"]["code"]) == ("cancelled", 0, "cancelled")
    assert (account.balance(), account.held()) == (START, 0)


def test_a_private_callback_url_creates_nothing(
    api: ApiClient, make_account: AccountFactory, media_upstream: FakeMedia
) -> None:
    account = make_account(START)
    body = {"model": "acme/vid", "prompt": "p", "duration": 2, "callback_url": "http://localhost/x"}
    resp = api.post("/v1/videos", body, account=account)
    assert resp.status_code == 400
    assert (resp.json()["error"]["code"], resp.json()["error"]["param"]) == (
        "invalid_parameter",
        "callback_url",
    )
    assert media_upstream.created == 0 and account.held() == 0
