"""A per-process bound on requests in their database phase (authenticate, reserve).

Under a burst, new requests would otherwise take every pooled connection and make the
billing of finished requests queue behind them (measured with bench/stream.py: 2,000
simultaneous streams left settles waiting seconds, some past the pool timeout). Admission
holds a slot from the start of the request until ``gate_leave`` (called when the connection
is given back before the upstream call), so ``DB_POOL_MAX_SIZE - GATEWAY_DB_ADMISSIONS``
connections always remain for settling. A request that cannot get a slot in
``GATEWAY_ADMISSION_TIMEOUT_SECONDS`` gets 503 ``overloaded`` with ``Retry-After``.
"""

from __future__ import annotations

import threading

from django.conf import settings

from config.errors import ApiError

_local = threading.local()
_lock = threading.Lock()
_gate: threading.BoundedSemaphore | None = None


def _semaphore() -> threading.BoundedSemaphore:
    global _gate
    if _gate is None:
        with _lock:
            if _gate is None:
                _gate = threading.BoundedSemaphore(settings.GATEWAY_DB_ADMISSIONS)
    return _gate


def gate_enter() -> None:
    if getattr(_local, "held", False):
        return
    if not _semaphore().acquire(timeout=settings.GATEWAY_ADMISSION_TIMEOUT_SECONDS):
        raise ApiError(
            503,
            "overloaded",
            "The gateway is at capacity; retry shortly",
            headers={"Retry-After": "1"},
        )
    _local.held = True


def gate_leave() -> None:
    if getattr(_local, "held", False):
        _local.held = False
        _semaphore().release()
