"""Claiming, answering and releasing an Idempotency-Key.

A request with the header claims ``(API key, Idempotency-Key)`` by inserting its row before
the money path: the unique constraint lets exactly one of any number of simultaneous
retries in. The others read the row: the same fingerprint (path and body) answered is
replayed, still in flight is ``409 idempotency_in_progress``, used by a stream is ``409
idempotency_stream_used``, another body is ``409 idempotency_conflict``. The claimer's answer
is stored when it is given: a 2xx or 4xx is kept for 24 h, a 5xx or a 429 (nothing was
done, a retry should run) releases the key, a stream marks it used."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone

from config.errors import ApiError
from gateway.idempotency.models import IdempotencyRecord

HEADER = "HTTP_IDEMPOTENCY_KEY"
KEY_MAX = 255
# the answer's headers that belong to the request that carried them, not to its replay
_NOT_KEPT = ("x-request-id", "retry-after", "content-length", "x-ratelimit-")


@dataclass
class Replay(Exception):
    """The stored answer of an earlier request with the same key and body."""

    response: HttpResponse
    request_id: str


def key_of(value: str) -> str:
    """The header's value, refused with a 400 when it is empty, too long or not printable
    ASCII."""
    if not value or len(value) > KEY_MAX or not value.isascii() or not value.isprintable():
        raise ApiError(
            400,
            "invalid_idempotency_key",
            f"Idempotency-Key must be 1 to {KEY_MAX} printable ASCII characters",
            param="Idempotency-Key",
        )
    return value


def fingerprint_of(path: str, body: bytes) -> str:
    return hashlib.sha256(path.encode() + b"\0" + body).hexdigest()


def claim(*, api_key_id: int, key: str, fingerprint: str, request_id: str) -> IdempotencyRecord:
    """The key claimed for this request, or the reason it is not: raises ``Replay`` with the
    stored answer, or a 409 ``ApiError``. An expired row, or a claim left pending past
    ``GATEWAY_IDEMPOTENCY_STALE_SECONDS`` (its worker died), is deleted and claimed anew."""
    for _ in range(3):
        now = timezone.now()
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    api_key_id=api_key_id,
                    key=key,
                    fingerprint=fingerprint,
                    request_id=request_id,
                    created_at=now,
                    expires_at=now + dt.timedelta(seconds=settings.GATEWAY_IDEMPOTENCY_TTL_SECONDS),
                )
        except IntegrityError:
            pass
        found = IdempotencyRecord.objects.filter(api_key_id=api_key_id, key=key).first()
        if found is None:
            continue  # released between the insert and the read
        stale = now - dt.timedelta(seconds=settings.GATEWAY_IDEMPOTENCY_STALE_SECONDS)
        if found.expires_at <= now or (
            found.state == IdempotencyRecord.State.PENDING and found.created_at <= stale
        ):
            IdempotencyRecord.objects.filter(pk=found.pk, state=found.state).delete()
            continue
        refused(found, fingerprint)
    raise ApiError(
        409, "idempotency_in_progress", "a request with this Idempotency-Key is in flight"
    )


def refused(found: IdempotencyRecord, fingerprint: str) -> None:
    """Why a request meeting ``found`` does not run: always raises."""
    if found.fingerprint != fingerprint:
        raise ApiError(
            409,
            "idempotency_conflict",
            "this Idempotency-Key was used with another request body or endpoint",
            param="Idempotency-Key",
        )
    if found.state == IdempotencyRecord.State.PENDING:
        raise ApiError(
            409,
            "idempotency_in_progress",
            "a request with this Idempotency-Key is still in flight; retry once it is answered",
            param="Idempotency-Key",
        )
    if found.state == IdempotencyRecord.State.STREAM:
        raise ApiError(
            409,
            "idempotency_stream_used",
            "this Idempotency-Key was used by a streamed request, which is never replayed",
            param="Idempotency-Key",
        )
    response = HttpResponse(bytes(found.body or b""), status=found.status or 200)
    for name, value in found.headers.items():
        response[name] = value
    response["Idempotent-Replayed"] = "true"
    raise Replay(response, found.request_id)


def finish(record: IdempotencyRecord, response: HttpResponse) -> None:
    """Keep the claimer's answer (a 2xx), mark a stream, or release the key (any error).

    An error charged nothing and is given back, as Stripe does with a request that failed
    validation: a client that fixes its body (or tops up after a 402) retries with the same
    key, rather than meeting the old 400 replayed or a 409 conflict with its own fix."""
    pending = IdempotencyRecord.objects.filter(pk=record.pk, state=IdempotencyRecord.State.PENDING)
    status = response.status_code
    if isinstance(response, StreamingHttpResponse):
        pending.update(state=IdempotencyRecord.State.STREAM, status=status)
    elif status >= 400:
        pending.delete()
    else:
        kept = {
            name: value
            for name, value in response.items()
            if not name.lower().startswith(_NOT_KEPT)
        }
        pending.update(
            state=IdempotencyRecord.State.DONE, status=status, headers=kept, body=response.content
        )


def release(record: IdempotencyRecord) -> None:
    """The key given back by a request that ended without an answer to keep."""
    IdempotencyRecord.objects.filter(pk=record.pk, state=IdempotencyRecord.State.PENDING).delete()


def purge(now: dt.datetime | None = None) -> int:
    """Delete the expired rows; the number deleted."""
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
