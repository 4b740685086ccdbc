"""Step 4 of the money path: call upstream, failing over across routes and fallback models.

``failover`` is the one loop, for every kind of call: it gives the database connection
back, walks the (model, route) pairs in order within the retry budget, calls ``attempt`` on
each, notes every attempt on the request's record and in the route's circuit breaker, and
stops at the first answer or at a failure another route would not mend. A non-streaming
call and a stream differ only in the attempt they pass (``gateway.pipeline.upstream``).

When no route answers, the hold is released, the failure recorded, and the client's
ApiError raised; anything unexpected during the attempts (a bug, a malformed answer no check
foresaw) does the same as ``internal_error``, so nothing is charged and the request is in
its owner's log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

from django.conf import settings
from django.db import connection

from catalog.selectors import RouteInfo
from config.errors import ApiError
from gateway.pipeline import routing
from gateway.pipeline.gate import gate_leave
from gateway.pipeline.planning import Candidate
from gateway.providers import ProviderError
from gateway.records.outcome import Outcome
from gateway.records.services import generation_fail

if TYPE_CHECKING:
    from gateway.pipeline.complete import Admission

log = logging.getLogger(__name__)

T = TypeVar("T")
# One try of one route: its answer, or a ProviderError (retryable if another route may
# succeed).
Attempt = Callable[[Candidate, RouteInfo], T]


def failover(admission: Admission, outcome: Outcome, attempt: Attempt[T]) -> tuple[Candidate, T]:
    """The first route's answer and the model it served, with ``outcome`` naming that route
    and listing every attempt. Raises the client's ApiError once the hold is released and
    the failure recorded."""
    connection_release()
    errors: list[ProviderError] = []
    try:
        for candidate, route in attempts_iter(admission):
            outcome_route(outcome, candidate, route)
            began = time.monotonic()
            try:
                result = attempt(candidate, route)
            except ProviderError as exc:
                errors.append(exc)
                record_attempt(outcome, route, candidate, began, exc)
                if not exc.retryable and exc.code != "provider_not_configured":
                    break
                continue
            record_attempt(outcome, route, candidate, began, None)
            return candidate, result
    except BaseException:
        close_unexpected(admission, outcome)
        raise
    err = failure_error(errors)
    outcome.latency_ms = ms_since(admission.caller.started)
    generation_fail(
        hold=admission.hold, outcome=outcome, http_status=err.status, error_code=err.code
    )
    raise err


def connection_release() -> None:
    """Give the DB connection back (to the pool) before a long upstream call, and the
    admission slot with it."""
    if not connection.in_atomic_block:
        connection.close()
    gate_leave()


def attempts_iter(admission: Admission) -> Iterator[tuple[Candidate, RouteInfo]]:
    """Every (model, route) to try, in order, within the retry budget."""
    prefs = routing.provider_prefs(admission.body)
    budget = settings.GATEWAY_MAX_ATTEMPTS * len(admission.candidates)
    for candidate in admission.candidates:
        routes = routing.routes_plan(candidate.model.routes, prefs)
        for route in routes[: settings.GATEWAY_MAX_ATTEMPTS]:
            if budget <= 0:
                return
            budget -= 1
            yield candidate, route


def outcome_new(admission: Admission) -> Outcome:
    caller = admission.caller
    return Outcome(
        request_id=caller.request_id,
        user_id=caller.api_key.user_id,
        api_key_id=caller.api_key.pk,
        surface=caller.surface,
    )


def outcome_route(outcome: Outcome, candidate: Candidate, route: RouteInfo) -> None:
    outcome.model = candidate.model.public_id
    outcome.route_id = route.id
    outcome.provider = route.provider_name
    outcome.upstream_model = route.upstream_model
    outcome.prices = candidate.model.prices.as_dict()


def failure_error(errors: list[ProviderError]) -> ApiError:
    """The client's error when no route answered, from the attempts' errors in order."""
    if not errors:
        return ApiError(503, "no_route_available", "No route is available for this model")
    if all(e.code == "provider_not_configured" for e in errors):
        return ApiError(503, "provider_not_configured", errors[0].message)
    last = errors[-1]
    if not last.retryable and last.status in (400, 404, 413, 422):
        status = 413 if last.status == 413 else 400
        code = "payload_too_large" if status == 413 else "invalid_request"
        return ApiError(status, code, f"The provider rejected the request: {last.message}")
    return ApiError(502, "provider_error", f"The provider failed: {last.message}")


def close_unexpected(admission: Admission, outcome: Outcome) -> None:
    """Release the hold of a request that failed in an unforeseen way and record it."""
    log.exception("request %s failed unexpectedly; releasing its hold", admission.caller.request_id)
    outcome.latency_ms = ms_since(admission.caller.started)
    try:
        generation_fail(
            hold=admission.hold, outcome=outcome, http_status=500, error_code="internal_error"
        )
    except Exception:
        # The database itself failed: the sweeper releases the hold once it expires.
        log.exception("recording the failure of %s failed", admission.caller.request_id)


def record_attempt(
    outcome: Outcome,
    route: RouteInfo,
    candidate: Candidate,
    began: float,
    exc: ProviderError | None,
) -> None:
    """Note one upstream attempt on the record and feed the route's circuit breaker."""
    if exc is None:
        routing.route_record(route.id, ok=True)
        routing.route_observe(route.id, latency_ms=(time.monotonic() - began) * 1000)
    elif exc.retryable:
        routing.route_record(route.id, ok=False)
    outcome.attempts.append(
        {
            "model": candidate.model.public_id,
            "provider": route.provider_slug,
            "route": route.id,
            "status": 200 if exc is None else (exc.status or 0),
            "error": "" if exc is None else exc.code,
            "ms": ms_since(began),
        }
    )


def ms_since(since: float) -> int:
    """Milliseconds from ``since`` (``time.monotonic()``) until now."""
    return int((time.monotonic() - since) * 1000)
