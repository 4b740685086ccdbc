"""Signed callbacks of finished media tasks.

``callback_url_check`` refuses a callback URL at request time (400 ``invalid_parameter``,
``param: callback_url``) unless it is http(s) and every address its host resolves to is
public (``gateway.providers.url_guard``); ``GATEWAY_CALLBACKS_ALLOW_PRIVATE`` lifts the
address check for local testing.

``callback_schedule`` runs inside the transaction that ends the task (the engine's
compare-and-set): it freezes the body (the task as ``GET /v1/tasks/{id}`` shows it) and
makes the callback due at once. Every attempt sends those same bytes.

``callbacks_deliver`` (the beat's ``gateway.tasks.media_callbacks_deliver``) sends the due
ones. Each attempt is claimed first by a conditional UPDATE of its callback (``attempts``
as read, still pending, still due: two workers never send the same attempt), which also
moves ``next_attempt_at`` past the send's timeout, so a worker that dies mid-send leaves a
callback that is tried again later. The POST carries ``x-api-key-event``,
``x-api-key-task-id``, ``x-api-key-timestamp`` (Unix seconds) and ``x-api-key-signature``:
hex ``HMAC_SHA256(user's callback secret, f"{timestamp}.{body}")``. It goes to the address
that was checked (``transport.request(..., user_url=True)``), follows no redirect (a 3xx is
a failed attempt), and ends after ``GATEWAY_CALLBACK_TIMEOUT_SECONDS`` whatever the
receiver does. A 2xx answer delivers it. Anything else (another status, no answer, a
timeout, an address now refused) is recorded as a failed ``CallbackAttempt``; the next
attempt is due ``GATEWAY_CALLBACK_RETRY_BASE_SECONDS`` x 2^(n-1) after the n-th failure,
and after ``GATEWAY_CALLBACK_ATTEMPTS`` attempts the callback is given up (state failed).
With the defaults (30 s, 8 attempts) the retries come 30 s, 1, 2, 4, 8, 16 and 32 min
after each failure: the last attempt about 63 minutes after the first.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import orjson
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.services import callback_secret_get
from config.errors import ApiError, DomainError
from gateway.media.models import Callback, CallbackAttempt, MediaTask
from gateway.media.serialize import task_body
from gateway.providers import transport
from gateway.providers.base import ProviderError
from gateway.providers.url_guard import assert_public_url

log = logging.getLogger(__name__)

EVENT_COMPLETED = "gateway.task.completed"
EVENT_FAILED = "gateway.task.failed"
BATCH = 200  # callbacks claimed per sweep
SENDERS = 16  # POSTs in flight at once
CLAIM_MARGIN_SECONDS = 60.0  # a claimed attempt is due again this long after its timeout
MAX_URL_LENGTH = 2000


@dataclass
class DeliveryReport:
    """What one sweep did: attempts sent, callbacks delivered, retries scheduled, given up."""

    sent: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    attempts: list[CallbackAttempt] = field(default_factory=list)


def _refuse(message: str) -> ApiError:
    return ApiError(400, "invalid_parameter", message, param="callback_url")


def callback_url_check(url: str) -> None:
    """Raise ApiError 400 ``invalid_parameter`` (``param: callback_url``) unless ``url`` is
    an http(s) URL with a host, at most 2,000 characters, whose host resolves only to
    public addresses (any address with ``GATEWAY_CALLBACKS_ALLOW_PRIVATE``)."""
    if not isinstance(url, str) or not url:
        raise _refuse("callback_url must be a non-empty string")
    if len(url) > MAX_URL_LENGTH:
        raise _refuse(f"callback_url is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError as exc:
        raise _refuse("callback_url is not a valid URL") from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise _refuse("callback_url must be an http or https URL with a host")
    if parts.username is not None or parts.password is not None:
        raise _refuse("callback_url must not carry a user name or password")
    if settings.GATEWAY_CALLBACKS_ALLOW_PRIVATE:
        return
    try:
        assert_public_url(url, param="callback_url")
    except DomainError as exc:
        raise _refuse(exc.message.replace("The URL", "callback_url", 1)) from exc


def callback_event(status: str) -> str:
    """The event a finished task announces: completed when it succeeded, else failed."""
    return EVENT_COMPLETED if status == MediaTask.Status.SUCCEEDED else EVENT_FAILED


def callback_schedule(task: MediaTask) -> Callback | None:
    """The task's callback, due now, its body frozen from the task as it now is (read again
    here, inside the caller's transaction, so it shows the status just set); None when the
    task has no callback URL. Called once per task by the engine's terminal change; a
    second call returns the first one's row."""
    if not task.callback_url:
        return None
    current = MediaTask.objects.get(pk=task.pk)
    if current.is_open:
        raise ValueError(f"task {task.public_id} is still {current.status}")
    body = orjson.dumps(task_body(current, current.origin)).decode()
    try:
        with transaction.atomic():
            return Callback.objects.create(
                task=current,
                url=current.callback_url,
                event=callback_event(current.status),
                body=body,
                next_attempt_at=timezone.now(),
            )
    except IntegrityError:
        return Callback.objects.get(task_id=task.pk)


def callback_signature(secret: str, timestamp: int, body: str) -> str:
    """Hex HMAC-SHA256 of ``f"{timestamp}.{body}"`` keyed with ``secret``."""
    message = f"{timestamp}.{body}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def retry_delay(number: int) -> float:
    """Seconds from the failure of attempt ``number`` (1-based) to the next attempt."""
    return settings.GATEWAY_CALLBACK_RETRY_BASE_SECONDS * 2 ** (number - 1)


@dataclass(frozen=True)
class _Claimed:
    callback: Callback
    number: int
    secret: str
    task_public_id: str


@dataclass(frozen=True)
class _Outcome:
    timestamp: int
    status_code: int | None
    error: str
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _claim(moment: dt.datetime) -> list[_Claimed]:
    """The due callbacks this worker won, each with the number of the attempt it sends."""
    due = list(
        Callback.objects.filter(state=Callback.State.PENDING, next_attempt_at__lte=moment)
        .select_related("task__user")
        .order_by("next_attempt_at", "id")[:BATCH]
    )
    lease = moment + dt.timedelta(
        seconds=settings.GATEWAY_CALLBACK_TIMEOUT_SECONDS + CLAIM_MARGIN_SECONDS
    )
    claimed: list[_Claimed] = []
    for callback in due:
        won = Callback.objects.filter(
            pk=callback.pk,
            state=Callback.State.PENDING,
            attempts=callback.attempts,
            next_attempt_at__lte=moment,
        ).update(attempts=F("attempts") + 1, next_attempt_at=lease)
        if won:
            user = callback.task.user
            claimed.append(
                _Claimed(
                    callback,
                    callback.attempts + 1,
                    callback_secret_get(user),
                    callback.task.public_id,
                )
            )
    return claimed


def _send(claimed: _Claimed) -> _Outcome:
    """One POST of the callback, never longer than the timeout; what it answered."""
    callback = claimed.callback
    timeout = settings.GATEWAY_CALLBACK_TIMEOUT_SECONDS
    timestamp = int(time.time())
    body = callback.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "gateway-callbacks/1",
        "x-api-key-event": callback.event,
        "x-api-key-task-id": claimed.task_public_id,
        "x-api-key-timestamp": str(timestamp),
        "x-api-key-signature": callback_signature(claimed.secret, timestamp, callback.body),
    }
    started = time.monotonic()
    status: int | None = None
    error = ""
    try:
        with transport.deadline_scope(started=started, seconds=timeout):
            response = transport.request(
                "POST",
                callback.url,
                body,
                headers,
                connect_timeout=timeout,
                read_timeout=timeout,
                user_url=not settings.GATEWAY_CALLBACKS_ALLOW_PRIVATE,
            )
            status = response.status
            response.close()  # the answer's body is not read: its status is the answer
        if not 200 <= status < 300:
            error = f"HTTP {status}" + (
                " (redirects are not followed)" if 300 <= status < 400 else ""
            )
    except DomainError as exc:
        error = exc.message
    except transport.DeadlineExceeded:
        error = f"timed out after {timeout:g} s"
    except TimeoutError:
        error = f"timed out after {timeout:g} s"
    except (transport.ConnectFailed, ProviderError, *transport.TransportError) as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    duration_ms = int((time.monotonic() - started) * 1000)
    return _Outcome(timestamp, status, error[:300], duration_ms)


def _record(
    claimed: _Claimed, outcome: _Outcome, now: dt.datetime | None, report: DeliveryReport
) -> None:
    """The attempt's row and the callback's next state, in one transaction, conditional on
    the attempt being still the callback's last claimed one."""
    callback, number = claimed.callback, claimed.number
    moment = now or timezone.now()
    if outcome.delivered:
        changes = {"state": Callback.State.DELIVERED, "next_attempt_at": None}
    elif number >= settings.GATEWAY_CALLBACK_ATTEMPTS:
        changes = {"state": Callback.State.FAILED, "next_attempt_at": None}
    else:
        changes = {"next_attempt_at": moment + dt.timedelta(seconds=retry_delay(number))}
    with transaction.atomic():
        attempt = CallbackAttempt.objects.create(
            callback=callback,
            number=number,
            timestamp=outcome.timestamp,
            status_code=outcome.status_code,
            error=outcome.error,
            duration_ms=outcome.duration_ms,
        )
        Callback.objects.filter(
            pk=callback.pk, state=Callback.State.PENDING, attempts=number
        ).update(**changes)
    report.sent += 1
    report.attempts.append(attempt)
    if outcome.delivered:
        report.delivered += 1
    elif "state" in changes:
        report.failed += 1
        log.warning(
            "callback of task %s given up after %d attempts", claimed.task_public_id, number
        )
    else:
        report.retrying += 1


def callbacks_deliver(now: dt.datetime | None = None) -> DeliveryReport:
    """Send every callback due at ``now`` (default: the current time) once, up to
    ``BATCH``, ``SENDERS`` at a time, and record each attempt. ``now`` also dates the
    retries (tests pass it to check the schedule exactly)."""
    report = DeliveryReport()
    claimed = _claim(now or timezone.now())
    if not claimed:
        return report
    with ThreadPoolExecutor(max_workers=min(SENDERS, len(claimed))) as pool:
        outcomes = list(pool.map(_send, claimed))
    for item, outcome in zip(claimed, outcomes, strict=True):
        _record(item, outcome, now, report)
    return report
