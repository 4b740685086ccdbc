"""The money path, the same for every surface:

1. authenticate (DRF, before this module), 2. resolve the model(s) and check the key,
3. reserve an upper bound of the cost as a Hold, 4. call upstream with no DB connection
held, failing over across routes and fallback models, 5. settle or release.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings

from billing.pricing import Usage, cost_compute
from billing.services import (
    HoldRef,
    credits_reserve,
)
from billing.services.recharge import recharge_check
from config.errors import ApiError, DomainError
from gateway.pipeline import keycache, routing, tokens
from gateway.pipeline.failover import close_unexpected, failover, ms_since, outcome_new
from gateway.pipeline.planning import (
    Caller,
    Candidate,
    caller_confirm,
    caller_confirmed,
    candidates_resolve,
    plan,
)
from gateway.pipeline.ratelimit import ratelimit_hit
from gateway.pipeline.upstream import Native, upstream_complete
from gateway.providers import Completion
from gateway.providers.transport import deadline_scope
from gateway.records.outcome import Outcome
from gateway.records.services import generation_settle
from gateway.self_route.routing import self_route_apply

RATE_COUNTED = "gateway.rate_counted"  # the environ's rate-limit headers, once counted


@dataclass(slots=True)
class Admission:
    caller: Caller
    body: dict[str, Any]
    candidates: list[Candidate]
    hold: HoldRef
    operation: str = "complete"  # the dialect method: complete | embed
    native: Native | None = None  # the surface's own body, for a route of the same dialect


def admit(
    caller: Caller,
    body: dict[str, Any],
    *,
    operation: str = "complete",
    native: Native | None = None,
) -> Admission:
    """Steps 2 and 3: resolve, check the key, and reserve. Raises DomainError (no hold
    left). A provisional key (gateway.pipeline.keycache) is confirmed by the reserve, or read from
    the database before any other ending; if it changed since it was read, the request is
    planned again here with the fresh copy (nothing was held)."""
    if caller.provisional is None:
        caller.provisional = keycache.provisional_take(caller.environ)
    try:
        return _admit_or_confirm(caller, body, operation, native)
    except keycache.KeyChanged as changed:
        caller.api_key = changed.key
        return _admit_or_confirm(caller, body, operation, native)


def _admit_or_confirm(
    caller: Caller, body: dict[str, Any], operation: str, native: Native | None
) -> Admission:
    try:
        return _admit(caller, body, operation, native)
    except DomainError:
        caller_confirm(caller)  # a refused key's own error wins over the request's
        raise


@contextmanager
def admitting(caller: Caller) -> Iterator[None]:
    """The request's admission, from its first check of the body: a key refused on reading
    it again wins over the request's own error (a body's error does not depend on the key,
    so it stands if the key only changed)."""
    if caller.provisional is None:
        caller.provisional = keycache.provisional_take(caller.environ)
    try:
        yield
    except DomainError:
        try:
            caller_confirm(caller)
        except keycache.KeyChanged as changed:
            caller.api_key = changed.key
        raise


def _unroutable(has_routes: bool) -> ApiError:
    """No model of the request can be tried. A model that has routes, all ruled out by the
    request's own ``provider`` preferences or ``max_price``, is the client's choice, so a 404
    that a retry cannot change (as OpenRouter answers it); a model without a usable route is
    the operator's, 503."""
    if has_routes:
        return ApiError(
            404,
            "no_matching_route",
            "No route of this model matches the request's provider preferences or max_price",
        )
    return ApiError(503, "no_route_available", "No route is available for this model")


def _admit(
    caller: Caller, body: dict[str, Any], operation: str, native: Native | None
) -> Admission:
    key = caller.api_key
    models = candidates_resolve(key, body)
    prefs = routing.provider_prefs(body)
    # the caller's own providers, when the request or the key names them (gateway.self_route)
    has_routes = any(m.routes for m in models)
    models = self_route_apply(key, body, models)
    models = [
        m for m in routing.max_price_filter(body, models) if routing.routes_plan(m.routes, prefs)
    ]
    if not models:
        raise _unroutable(has_routes)
    if key.rate_limit_rpm:
        # counted once per request, also when it is planned again (gateway.pipeline.keycache)
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
        key_check=caller.provisional.check() if caller.provisional is not None else None,
        limit_period=key.limit_period,
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


def complete(admission: Admission) -> tuple[Completion, Outcome, int]:
    """Step 4 and 5 for a non-streaming call: returns the completion, its record and the
    credits charged. When no route answers, the hold is released, the failure recorded and
    an ApiError raised (``gateway.pipeline.failover``). Anything unexpected before the
    settle (a bug, a malformed upstream answer no check foresaw) also releases the hold and
    writes the record, as ``internal_error``, so the request is in its owner's log and
    nothing is charged."""
    outcome = outcome_new(admission)
    deadline = settings.GATEWAY_REQUEST_DEADLINE_SECONDS
    with deadline_scope(started=admission.caller.started, seconds=deadline):
        candidate, result = failover(admission, outcome, partial(upstream_complete, admission))
    try:
        _outcome_answered(admission, outcome, result)
        cost = cost_compute(usage=outcome.usage, prices=candidate.model.prices)
    except BaseException:
        close_unexpected(admission, outcome)
        raise
    outcome.latency_ms = ms_since(admission.caller.started)
    generation = generation_settle(hold=admission.hold, outcome=outcome, cost=cost)
    recharge_check(account=admission.caller.api_key.user.credit_account, charged=generation.cost)
    return result, outcome, generation.cost


def _outcome_answered(admission: Admission, outcome: Outcome, result: Completion) -> None:
    outcome.usage = result.usage
    outcome.native_usage = result.native_usage
    outcome.usage_estimated = result.usage_estimated
    if result.usage_estimated:
        outcome.usage = _estimate_usage(admission.body, result)
    outcome.finish_reason = result.finish_reason


def _estimate_usage(body: dict[str, Any], result: Completion) -> Usage:
    text = "".join(
        str((c.get("message") or {}).get("content") or "") for c in result.body.get("choices") or []
    )
    if "input" in body:
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        return Usage(prompt_tokens=sum(tokens.estimate(str(i)) for i in inputs))
    prompt = tokens.estimate(tokens.message_text(body.get("messages") or []))
    return Usage(prompt_tokens=prompt, completion_tokens=tokens.estimate(text))
