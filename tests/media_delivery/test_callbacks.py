"""Callbacks of finished tasks, sent to a real local receiver: signed with the user's
secret and the exact headers, retried on a non-2xx answer or a timeout on the exact
schedule (base, doubling, given up), no redirect followed, each attempt sent once however
many workers sweep."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from accounts.services import callback_secret_get, callback_secret_rotate
from gateway.media.callbacks import callback_schedule, callbacks_deliver
from gateway.media.models import Callback, CallbackAttempt, MediaTask
from gateway.media.serialize import task_body
from gateway.media.storage import outputs_store
from gateway.providers.dialect import MediaOutput
from tests.media_delivery.rows import output_open, task_make
from tests.media_delivery.servers import PNG, Receiver

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 12, 2, 8, 0, tzinfo=dt.UTC)
HEADERS = ("x-api-key-event", "x-api-key-task-id", "x-api-key-timestamp", "x-api-key-signature")


def finished(user: Any, url: str, *, status: str = MediaTask.Status.SUCCEEDED) -> MediaTask:
    """A task that ended with ``status`` (one stored image when it succeeded) and its
    callback scheduled, as the engine's terminal change does."""
    task = task_make(user, callback_url=url)
    if status == MediaTask.Status.SUCCEEDED:
        outputs_store(task, [MediaOutput(data=PNG)], output_open)
    MediaTask.objects.filter(pk=task.pk).update(
        status=status,
        cost=12_000 if status == MediaTask.Status.SUCCEEDED else 0,
        error_code="" if status == MediaTask.Status.SUCCEEDED else "provider_failed",
        error_message="" if status == MediaTask.Status.SUCCEEDED else "NSFW content",
        completed_at=timezone.now(),
    )
    callback = callback_schedule(task)
    assert callback is not None
    Callback.objects.filter(pk=callback.pk).update(next_attempt_at=T0)
    task.refresh_from_db()
    return task


def lowered(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def signature_valid(secret: str, request: dict[str, Any]) -> bool:
    headers = lowered(request["headers"])
    message = f"{headers['x-api-key-timestamp']}.".encode() + request["body"]
    expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["x-api-key-signature"])


def test_503_then_200_retried_once_and_signed(make_account: Any, receiver: Receiver) -> None:
    user = make_account().user
    receiver.reset(503, 200)
    task = finished(user, f"{receiver.url}/hook?tenant=7")

    first = callbacks_deliver(now=T0)
    assert (first.sent, first.delivered, first.retrying, first.failed) == (1, 0, 1, 0)
    callback = Callback.objects.get(task=task)
    assert callback.state == "pending" and callback.attempts == 1
    assert callback.next_attempt_at == T0 + dt.timedelta(seconds=30)
    assert callbacks_deliver(now=T0 + dt.timedelta(seconds=29)).sent == 0
    second = callbacks_deliver(now=T0 + dt.timedelta(seconds=30))
    assert (second.sent, second.delivered) == (1, 1)
    callback.refresh_from_db()
    assert (callback.state, callback.attempts, callback.next_attempt_at) == ("delivered", 2, None)
    assert callbacks_deliver(now=T0 + dt.timedelta(hours=2)).sent == 0

    tries = list(CallbackAttempt.objects.filter(callback=callback).order_by("number"))
    assert [(a.number, a.status_code, a.error) for a in tries] == [
        (1, 503, "HTTP 503"),
        (2, 200, ""),
    ]
    assert all(0 <= a.duration_ms < 2000 for a in tries)
    assert len(receiver.received) == 2
    secret = callback_secret_get(user)
    assert secret.startswith("whsec_") and len(secret) == 49
    body = task_body(task, task.origin)
    assert body["output"][0]["url"].startswith("https://gw.example/v1/files/")
    for request, attempt in zip(receiver.received, tries, strict=True):
        headers = lowered(request["headers"])
        assert request["path"] == "/hook?tenant=7"
        assert headers["x-api-key-event"] == "gateway.task.completed"
        assert headers["x-api-key-task-id"] == task.public_id
        assert headers["x-api-key-timestamp"] == str(attempt.timestamp)
        assert headers["content-type"] == "application/json"
        assert signature_valid(secret, request)
        assert not signature_valid(secret + "x", request)
        assert json.loads(request["body"]) == body
        assert request["body"].decode() == callback.body  # the same bytes every time
    assert body["status"] == "succeeded" and body["cost"] == 12_000


def test_failed_task_event_and_rotated_secret(make_account: Any, receiver: Receiver) -> None:
    user = make_account().user
    old = callback_secret_get(user)
    new = callback_secret_rotate(user)
    assert new != old and callback_secret_get(user) == new
    task = finished(user, f"{receiver.url}/hook", status=MediaTask.Status.FAILED)
    assert callbacks_deliver(now=T0).delivered == 1
    (request,) = receiver.received
    headers = lowered(request["headers"])
    assert headers["x-api-key-event"] == "gateway.task.failed"
    assert signature_valid(new, request) and not signature_valid(old, request)
    sent = json.loads(request["body"])
    assert sent["id"] == task.public_id
    assert sent["status"] == "failed" and sent["output"] == [] and sent["cost"] == 0
    assert sent["error"] == {"code": "provider_failed", "message": "NSFW content"}


def test_a_timeout_is_a_failed_attempt(
    make_account: Any, receiver: Receiver, settings: Any
) -> None:
    settings.GATEWAY_CALLBACK_TIMEOUT_SECONDS = 0.5
    receiver.slow_seconds = 2.0
    receiver.reset("slow")
    task = finished(make_account().user, f"{receiver.url}/hook")
    report = callbacks_deliver(now=T0)
    assert (report.sent, report.delivered, report.retrying) == (1, 0, 1)
    (attempt,) = CallbackAttempt.objects.filter(callback__task=task)
    assert attempt.status_code is None
    assert attempt.error == "timed out after 0.5 s"
    assert 450 <= attempt.duration_ms < 1500
    assert Callback.objects.get(task=task).next_attempt_at == T0 + dt.timedelta(seconds=30)


def test_retry_schedule_doubles_then_gives_up(
    make_account: Any, receiver: Receiver, settings: Any
) -> None:
    settings.GATEWAY_CALLBACK_RETRY_BASE_SECONDS = 30.0
    settings.GATEWAY_CALLBACK_ATTEMPTS = 5
    receiver.reset(*[500] * 5)
    task = finished(make_account().user, f"{receiver.url}/hook")
    callback = Callback.objects.get(task=task)
    moment, delays = T0, []
    for number in range(1, 6):
        report = callbacks_deliver(now=moment)
        assert report.sent == 1, number
        callback.refresh_from_db()
        if callback.next_attempt_at is not None:
            delays.append((callback.next_attempt_at - moment).total_seconds())
            moment = callback.next_attempt_at
    assert delays == [30.0, 60.0, 120.0, 240.0]
    assert (callback.state, callback.attempts, callback.next_attempt_at) == ("failed", 5, None)
    assert report.failed == 1
    assert callbacks_deliver(now=moment + dt.timedelta(days=1)).sent == 0
    assert list(callback.tries.values_list("number", "status_code")) == [
        (n, 500) for n in range(1, 6)
    ]
    assert len(receiver.received) == 5


def test_default_schedule_spans_about_an_hour(settings: Any) -> None:
    from gateway.media.callbacks import retry_delay

    attempts = settings.GATEWAY_CALLBACK_ATTEMPTS
    total = sum(retry_delay(n) for n in range(1, attempts))
    assert attempts >= 5 and settings.GATEWAY_CALLBACK_RETRY_BASE_SECONDS == 30.0
    assert (attempts, total) == (8, 3810.0)  # 30 s x (1 + 2 + ... + 64): 63.5 min


def test_a_redirect_is_not_followed(make_account: Any, receiver: Receiver) -> None:
    receiver.reset("redirect")
    task = finished(make_account().user, f"{receiver.url}/hook")
    assert callbacks_deliver(now=T0).retrying == 1
    (attempt,) = CallbackAttempt.objects.filter(callback__task=task)
    assert (attempt.status_code, attempt.error) == (302, "HTTP 302 (redirects are not followed)")
    assert [r["path"] for r in receiver.received] == ["/hook"]


def test_delivery_checks_the_address_again(
    make_account: Any, receiver: Receiver, settings: Any
) -> None:
    """A URL accepted while private addresses were allowed is refused when sent without."""
    task = finished(make_account().user, f"{receiver.url}/hook")
    settings.GATEWAY_CALLBACKS_ALLOW_PRIVATE = False
    assert callbacks_deliver(now=T0).retrying == 1
    (attempt,) = CallbackAttempt.objects.filter(callback__task=task)
    assert attempt.status_code is None
    assert "loopback" in attempt.error
    assert receiver.received == []


def test_schedule_once_and_only_for_finished_tasks(make_account: Any, receiver: Receiver) -> None:
    user = make_account().user
    assert callback_schedule(task_make(user)) is None  # no callback URL
    with pytest.raises(ValueError, match="still pending"):
        callback_schedule(task_make(user, callback_url=f"{receiver.url}/hook"))
    task = finished(user, f"{receiver.url}/hook")
    again = callback_schedule(task)
    assert again is not None and Callback.objects.filter(task=task).count() == 1
    assert (again.event, again.url, again.attempts) == (
        "gateway.task.completed",
        f"{receiver.url}/hook",
        0,
    )


@pytest.mark.django_db(transaction=True)
def test_two_workers_send_an_attempt_once(make_account: Any, receiver: Receiver) -> None:
    tasks = [finished(make_account().user, f"{receiver.url}/hook/{i}") for i in range(6)]
    barrier = threading.Barrier(4)
    reports: list[Any] = []

    def sweep() -> None:
        try:
            barrier.wait()
            reports.append(callbacks_deliver(now=T0))
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.sent for r in reports) == 6
    assert sorted(r["path"] for r in receiver.received) == [f"/hook/{i}" for i in range(6)]
    assert CallbackAttempt.objects.count() == 6
    assert set(Callback.objects.values_list("state", "attempts")) == {("delivered", 1)}
    assert len(tasks) == 6
