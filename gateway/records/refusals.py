"""Refused requests in the request log: a request whose key was recognised (its secret
matched) but which was answered a 4xx before anything was held (a bad body, not enough
credits, a model or address the key may not use, the rate limit, a suspended account) is
recorded as a Generation with status ``refused``, its HTTP status and error code, cost 0, no
ledger entry and no rollup, so its owner can see why it failed.

A 401 is not recorded: without a valid key there is no known owner to show it to.

One plain INSERT, skipped if the request already has its record (a request refused by its
provider after its hold was taken was recorded with that failure, and stays so). It never
changes the answer: if the insert fails, the failure is logged and the 4xx still goes out.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext

from django.db import DatabaseError, connection, transaction

from gateway.models import Generation
from gateway.ops.metrics import request_observe

log = logging.getLogger(__name__)


def generation_refuse(
    *,
    request_id: str,
    user_id: int,
    api_key_id: int | None,
    surface: str,
    model: str,
    http_status: int,
    error_code: str,
    latency_ms: int = 0,
    is_streamed: bool = False,
) -> None:
    """Record the refusal (nothing if the request has a record already)."""
    row = Generation(
        request_id=request_id,
        user_id=user_id,
        api_key_id=api_key_id,
        # the model is the client's text: NUL, which PostgreSQL's text refuses, is shown as
        # U+FFFD rather than losing the record
        model=model.replace("\x00", "\ufffd")[:200],
        surface=surface[:32],
        status=Generation.Status.REFUSED,
        http_status=http_status,
        error_code=error_code[:64],
        latency_ms=max(latency_ms, 0),
        is_streamed=is_streamed,
        cost=0,
    )
    try:
        # inside a caller's transaction a failed insert must not spoil it: a savepoint then;
        # in autocommit (a request) the insert alone
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            Generation.objects.bulk_create([row], ignore_conflicts=True)
    except DatabaseError:
        log.exception("request %s: its refusal (%s) could not be recorded", request_id, http_status)
    # counted even if its insert failed (it was answered); not again if it had a record
    request_observe(row, model_known=False)
