"""The money path, the same for every surface:

1. authenticate (DRF, before this module), 2. resolve the model(s) and check the key,
3. reserve an upper bound of the cost as a Hold, 4. call upstream with no DB connection
held, failing over across routes and fallback models, 5. settle or release.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection

from billing.pricing import Usage, cost_compute
from billing.services import (
    HoldRef,
    credits_reserve,
)
from billing.services.recharge import recharge_check
from catalog.selectors import RouteInfo
from config.errors import ApiError
from gateway import routing, tokens
from gateway.gate import gate_leave
from gateway.planning import (
    Caller,
    Candidate,
    caller_confirm,
    caller_confirmed,
    candidates_resolve,
    plan,
)
from gateway.providers import DIALECTS, Completion, Dialect, ProviderError
from gateway.providers.transport import deadline_scope
from gateway.ratelimit import ratelimit_hit
from gateway.services import Outcome, generation_fail, generation_settle

log = logging.getLogger(__name__)

RATE_COUNTED = "gateway.rate_counted"  # the environ's rate-limit headers, once counted


@dataclass(slots=True)
class Admission:
    caller: Caller
    body: dict[str, Any]
    candidates: list[Candidate]
    hold: HoldRef
    operation: str = "complete"  # the dialect method: complete | embed
    native: Native | None = None  # the surface's own body, for a route of the same dialect


@dataclass(frozen=True, slots=True)
class Native:
    """A surface request in a dialect's own wire format. A route of that dialect receives it
    as it came (model renamed, and its completion cap the one held for), so
    provider-specific fields survive; any other route gets the canonical translation."""

    dialect: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def for_route(self, route: RouteInfo, max_tokens: int) -> dict[str, Any] | None:
        if route.dialect != self.dialect:
            return None
        body = {k: v for k, v in self.body.items() if k not in tokens.OUTPUT_CAPS}
        body["model"] = route.upstream_model
        body["max_tokens"] = max_tokens
        return body


def admit(
    caller: Caller,
    body: dict[str, Any],
    *,
    operation: str = "complete",
    native: Native | None = None,
) -> Admission:
    """Steps 2 and 3: resolve, check the key, and reserve. Raises ApiError (no hold left).
    A provisional key (gateway.keycache) is confirmed by the reserve, or read from the
    database before any other ending."""
    try:
        return _admit(caller, body, operation, native)
    except ApiError:
        caller_confirm(caller)  # a refused key's own error wins over the request's
        raise


def _admit(
    caller: Caller, body: dict[str, Any], operation: str, native: Native | None
) -> Admission:
    key = caller.api_key
    models = candidates_resolve(key, body)
    prefs = routing.provider_prefs(body)
    models = [
        m for m in routing.max_price_filter(body, models) if routing.routes_plan(m.routes, prefs)
    ]
    if not models:
        raise ApiError(
            503,
            "no_route_available",
            "No route is available for this model under the request's provider preferences",
        )
    if key.rate_limit_rpm:
        # counted once per request, also when it is planned again (gateway.keycache)
        counted = caller.environ.get(RATE_COUNTED)
        if counted is None:
            counted = ratelimit_hit(key_id=key.pk, limit=key.rate_limit_rpm)
            caller.environ[RATE_COUNTED] = counted
        caller.headers.update(counted)
    candidates = plan(caller, body, models, operation, native=native.body if native else None)
    amount = max(c.hold for c in candidates)
    if amount == 0:
        caller_confirm(caller)  # nothing is held, so no statement checks the key
    key = caller.api_key
    hold = credits_reserve(
        account_id=caller.account_id,
        api_key_id=key.pk,
        monthly_limit=key.monthly_limit,
        amount=amount,
        request_id=caller.request_id,
        # the hold outlives the request's deadline; a stream also checkpoints and renews it
        ttl_seconds=settings.GATEWAY_REQUEST_DEADLINE_SECONDS + settings.BILLING_HOLD_TTL_SECONDS,
        is_streamed=bool(body.get("stream")),
        key_revision=key.revision if caller.provisional is not None else None,
    )
    caller_confirmed(caller)  # the reserve found the key unchanged and usable
    return Admission(
        caller=caller,
        body=body,
        candidates=candidates,
        hold=hold,
        operation=operation,
        native=native,
    )


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


def dialect_for(route: RouteInfo) -> Dialect:
    dialect = DIALECTS.get(route.dialect)
    if dialect is None:
        raise ProviderError(
            f"The {route.dialect} dialect is not available in this version",
            retryable=False,
            code="provider_not_configured",
        )
    return dialect


def upstream_body(admission: Admission, candidate: Candidate) -> dict[str, Any]:
    """The canonical body for a route: without the gateway's own fields, and with exactly one
    completion cap, the one held for (under the name the client used, else ``max_tokens``);
    every other field that could raise the output (``tokens.OUTPUT_CAPS``) is dropped."""
    body = {
        k: v
        for k, v in admission.body.items()
        if k not in tokens.GATEWAY_FIELDS and k not in tokens.OUTPUT_CAPS
    }
    if admission.operation != "embed":
        completion = admission.body.get("max_completion_tokens") is not None
        body["max_completion_tokens" if completion else "max_tokens"] = candidate.max_tokens
    return body


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


def failure_error(errors: list[ProviderError], admission: Admission) -> ApiError:
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


def complete(admission: Admission) -> tuple[Completion, Outcome, int]:
    """Step 4 and 5 for a non-streaming call: returns the completion, its record and the
    credits charged. When no route answers, the hold is released, the failure recorded and
    an ApiError raised. Anything unexpected before the settle (a bug, a malformed upstream
    answer no check foresaw) also releases the hold and writes the record, as
    ``internal_error``, so the request is in its owner's log and nothing is charged."""
    connection_release()
    outcome = outcome_new(admission)
    try:
        deadline = settings.GATEWAY_REQUEST_DEADLINE_SECONDS
        with deadline_scope(started=admission.caller.started, seconds=deadline):
            found = _first_answer(admission, outcome)
        if isinstance(found, ApiError):
            cost = None
        else:
            candidate, result = found
            _outcome_answered(admission, outcome, result)
            cost = cost_compute(usage=outcome.usage, prices=candidate.model.prices)
    except BaseException:
        close_unexpected(admission, outcome)
        raise
    outcome.latency_ms = _ms(admission.caller.started)
    if cost is None:
        generation_fail(
            hold=admission.hold, outcome=outcome, http_status=found.status, error_code=found.code
        )
        raise found
    generation = generation_settle(hold=admission.hold, outcome=outcome, cost=cost)
    recharge_check(account=admission.caller.api_key.user.credit_account, charged=generation.cost)
    return result, outcome, generation.cost


def _first_answer(
    admission: Admission, outcome: Outcome
) -> tuple[Candidate, Completion] | ApiError:
    """Try each route in turn; the first answer, or the error for the client if none."""
    errors: list[ProviderError] = []
    for candidate, route in attempts_iter(admission):
        outcome_route(outcome, candidate, route)
        began = time.monotonic()
        try:
            dialect = dialect_for(route)
            native = (
                admission.native.for_route(route, candidate.max_tokens)
                if admission.native
                else None
            )
            if native is not None:
                result = dialect.complete_native(route, native, admission.native.headers)
            else:
                call = getattr(dialect, admission.operation)
                result = call(route, upstream_body(admission, candidate))
        except ProviderError as exc:
            errors.append(exc)
            record_attempt(outcome, route, candidate, began, exc)
            if not exc.retryable and exc.code != "provider_not_configured":
                break
            continue
        record_attempt(outcome, route, candidate, began, None)
        return candidate, result
    return failure_error(errors, admission)


def _outcome_answered(admission: Admission, outcome: Outcome, result: Completion) -> None:
    outcome.usage = result.usage
    outcome.native_usage = result.native_usage
    outcome.usage_estimated = result.usage_estimated
    if result.usage_estimated:
        outcome.usage = _estimate_usage(admission.body, result)
    outcome.finish_reason = result.finish_reason


def close_unexpected(admission: Admission, outcome: Outcome) -> None:
    """Release the hold of a request that failed in an unforeseen way and record it."""
    log.exception("request %s failed unexpectedly; releasing its hold", admission.caller.request_id)
    outcome.latency_ms = _ms(admission.caller.started)
    try:
        generation_fail(
            hold=admission.hold, outcome=outcome, http_status=500, error_code="internal_error"
        )
    except Exception:
        # The database itself failed: the sweeper releases the hold once it expires.
        log.exception("recording the failure of %s failed", admission.caller.request_id)


def _estimate_usage(body: dict[str, Any], result: Completion) -> Usage:
    text = "".join(
        str((c.get("message") or {}).get("content") or "") for c in result.body.get("choices") or []
    )
    if "input" in body:
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        return Usage(prompt_tokens=sum(tokens.estimate(str(i)) for i in inputs))
    prompt = tokens.estimate(tokens.message_text(body.get("messages") or []))
    return Usage(prompt_tokens=prompt, completion_tokens=tokens.estimate(text))


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
            "ms": _ms(began),
        }
    )


def _ms(since: float) -> int:
    return int((time.monotonic() - since) * 1000)
