"""The hook every billable POST view runs (``RecordsRefusals`` in gateway.api.base): the
claim after authentication, the answer kept once given, the key released on an escape.
A request without the header costs one dictionary lookup."""

from __future__ import annotations

from django.http import HttpResponse
from rest_framework.request import Request

from gateway.api.request_body import body_bytes
from gateway.idempotency import store
from gateway.idempotency.models import IdempotencyRecord


def begin(request: Request) -> IdempotencyRecord | None:
    """The claim of the request's Idempotency-Key (None without one); raises ``store.Replay``
    or a 409 ``ApiError`` when the key is taken."""
    value = request.META.get(store.HEADER)
    if value is None:
        return None
    key = store.key_of(value)
    try:
        return store.claim(
            api_key_id=request.auth.pk,
            key=key,
            fingerprint=store.fingerprint_of(request.path, body_bytes(request)),
            request_id=request.request_id,
        )
    except store.Replay as replay:
        # the replay answers with the first request's id (RequestIdMiddleware echoes it)
        request._request.request_id = replay.request_id
        raise


def end(record: IdempotencyRecord | None, response: HttpResponse) -> None:
    if record is not None:
        store.finish(record, response)


def release(record: IdempotencyRecord) -> None:
    store.release(record)
