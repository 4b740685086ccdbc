"""The media task engine: create a task (resolve, estimate, budget, hold, submit), and end
it exactly once (``gateway.media.records``).

``task_create`` follows the money path of every surface (``gateway.pipeline.complete``):
the model is resolved and the key checked, the estimate (``gateway.media.pricing``) is
checked against the request's ``max_credits`` before anything is held or written, the
estimate is held with a hold that outlives the task (``GATEWAY_TASK_TIMEOUT_SECONDS`` +
``BILLING_HOLD_TTL_SECONDS``, so the holds sweeper never takes it first), the task row is
inserted, and the request is submitted upstream, failing over across the model's routes
on retryable errors. A route whose dialect answers images synchronously (``image``)
settles before ``task_create`` returns; any other route gives a pending task the poller
(``gateway.media.polling``) follows. A refusal at submission fails the task, releases the
hold and raises the client's error, as a chat request's would be.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings
from django.utils import timezone

from billing.pricing import Usage
from billing.services import credits_release, credits_reserve
from catalog.selectors import ResolvedModel, RouteInfo
from config.errors import ApiError
from gateway.media.models import MediaTask
from gateway.media.polling import (
    PollReport,
    task_cancel,
    task_fail,
    task_poll_once,
    task_succeed,
    tasks_poll_due,
)
from gateway.media.pricing import KIND_MODALITY, media_estimate
from gateway.media.records import task_release
from gateway.pipeline import keycache, routing
from gateway.pipeline.failover import connection_release, failure_error
from gateway.pipeline.planning import Caller, caller_confirm, candidates_resolve
from gateway.pipeline.upstream import dialect_for
from gateway.providers import ProviderError
from gateway.providers.dialect import DialectBase, MediaResult, UpstreamTask
from gateway.providers.transport import deadline_scope

log = logging.getLogger(__name__)

__all__ = [
    "PollReport",
    "TaskRequest",
    "task_cancel",
    "task_create",
    "task_fail",
    "task_poll_once",
    "task_succeed",
    "tasks_poll_due",
]


@dataclass(slots=True)
class TaskRequest:
    """A media request, checked (``gateway.media.validation``): its kind (image, video,
    music), the model as the client named it, the canonical body without its kind (prompt,
    n, size, quality, duration, resolution, input_mode, image_url), the client's budget,
    where to announce the end, and the scheme and host the request came through."""

    kind: str
    model: str
    params: dict[str, Any] = field(default_factory=dict)
    max_credits: int | None = None
    callback_url: str = ""
    origin: str = ""


def task_create(caller: Caller, req: TaskRequest) -> MediaTask:
    """Create the task and submit it: a synchronous image comes back succeeded (outputs
    stored, charged), any other task pending. Raises ApiError or DomainError (404/403 for
    the model, 400 for a model without the kind's output, 402 ``max_credits_exceeded``,
    ``insufficient_credits`` or ``key_limit_exceeded`` with nothing held or created, the
    provider's refusal mapped as for chat)."""
    _key_confirm(caller)
    model = _model_for(caller, req)
    routes = routing.routes_plan(model.routes, None)
    if not routes:
        raise ApiError(503, "no_route_available", "No route is available for this model")
    params = req.params
    estimate = media_estimate(
        model,
        kind=req.kind,
        n=int(params.get("n") or 1),
        duration=params.get("duration"),
        resolution=params.get("resolution"),
        input_mode=params.get("input_mode"),
        prompt=str(params.get("prompt") or ""),
    )
    if req.max_credits is not None and estimate > req.max_credits:
        raise ApiError(
            402,
            "max_credits_exceeded",
            f"The estimate of {estimate} credits exceeds max_credits ({req.max_credits})",
            param="max_credits",
        )
    key = caller.api_key
    hold = credits_reserve(
        account_id=caller.account_id,
        api_key_id=key.pk,
        monthly_limit=key.monthly_limit,
        amount=estimate,
        request_id=caller.request_id,
        ttl_seconds=settings.GATEWAY_TASK_TIMEOUT_SECONDS + settings.BILLING_HOLD_TTL_SECONDS,
        limit_period=key.limit_period,
    )
    try:
        task = MediaTask.objects.create(
            public_id="task_" + secrets.token_urlsafe(24),
            request_id=caller.request_id,
            user_id=key.user_id,
            api_key=key,
            kind=req.kind,
            model=model.public_id,
            route_id=routes[0].id,
            provider=routes[0].provider_name,
            upstream_model=routes[0].upstream_model,
            params=params,
            estimate=estimate,
            max_credits=req.max_credits,
            hold_id=hold.id,
            hold_month=hold.month,
            prices=model.prices.as_dict(),
            deadline_at=timezone.now()
            + dt.timedelta(seconds=settings.GATEWAY_TASK_TIMEOUT_SECONDS),
            callback_url=req.callback_url,
            origin=req.origin,
        )
    except BaseException:
        credits_release(hold=hold)
        raise
    try:
        return _submit(caller, task, routes)
    except ApiError:
        raise
    except BaseException:
        log.exception("task %s failed unexpectedly at submission", task.public_id)
        task_release(
            task.pk,
            status=MediaTask.Status.FAILED,
            code="internal_error",
            message="The task failed unexpectedly",
            http_status=500,
        )
        raise


def _key_confirm(caller: Caller) -> None:
    """The caller's key read from the database for this request (a key cached moments ago
    is checked again: a task holds credits for long)."""
    if caller.provisional is None:
        caller.provisional = keycache.provisional_take(caller.environ)
    try:
        caller_confirm(caller)
    except keycache.KeyChanged as changed:
        caller.api_key = changed.key


def _model_for(caller: Caller, req: TaskRequest) -> ResolvedModel:
    model = candidates_resolve(caller.api_key, {"model": req.model})[0]
    modality = KIND_MODALITY.get(req.kind)
    if modality is None:
        raise ApiError(400, "invalid_parameter", f"Unknown media kind {req.kind!r}")
    if modality not in model.output_modalities:
        raise ApiError(
            400,
            "invalid_parameter",
            f"Model {model.public_id} does not produce {modality}",
            param="model",
        )
    return model


def _sync_images(dialect: Any) -> bool:
    """Whether the dialect answers images in the request (it offers ``image``)."""
    return type(dialect).image is not DialectBase.image


def _submit(caller: Caller, task: MediaTask, routes: list[RouteInfo]) -> MediaTask:
    body = {"kind": task.kind, **task.params}
    errors: list[ProviderError] = []
    attempts: list[dict[str, Any]] = []
    connection_release()
    with deadline_scope(started=caller.started, seconds=settings.GATEWAY_REQUEST_DEADLINE_SECONDS):
        for route in routes[: settings.GATEWAY_MAX_ATTEMPTS]:
            began = time.monotonic()
            try:
                dialect = dialect_for(route)
                if task.kind == "image" and _sync_images(dialect):
                    answer: MediaResult | UpstreamTask = dialect.image(route, body)
                else:
                    answer = dialect.task_submit(route, body)
            except ProviderError as exc:
                errors.append(exc)
                attempts.append(_attempt(route, began, exc))
                if exc.retryable:
                    routing.route_record(route.id, ok=False)
                if not exc.retryable and exc.code != "provider_not_configured":
                    break
                continue
            routing.route_record(route.id, ok=True)
            attempts.append(_attempt(route, began, None))
            _route_set(task, route)
            if isinstance(answer, MediaResult):
                return _images_done(task, route, answer, attempts)
            return _pending(task, answer)
    err = failure_error(errors)
    task_release(
        task.pk,
        status=MediaTask.Status.FAILED,
        code=err.code,
        message=err.message,
        http_status=err.status,
        attempts=attempts,
    )
    raise err


def _attempt(route: RouteInfo, began: float, exc: ProviderError | None) -> dict[str, Any]:
    return {
        "provider": route.provider_slug,
        "route": route.id,
        "status": 200 if exc is None else (exc.status or 0),
        "error": "" if exc is None else exc.code,
        "ms": int((time.monotonic() - began) * 1000),
    }


def _route_set(task: MediaTask, route: RouteInfo) -> None:
    fields = {
        "route_id": route.id,
        "provider": route.provider_name,
        "upstream_model": route.upstream_model,
    }
    if any(getattr(task, k) != v for k, v in fields.items()):
        MediaTask.objects.filter(pk=task.pk).update(**fields)
        for name, value in fields.items():
            setattr(task, name, value)


def _images_done(
    task: MediaTask, route: RouteInfo, result: MediaResult, attempts: list[dict[str, Any]]
) -> MediaTask:
    """A synchronous answer: its images stored, then the task settled (or, if they could
    not be stored, failed and released)."""
    if not result.outputs:
        task_release(
            task.pk,
            status=MediaTask.Status.FAILED,
            code="empty_output",
            message="The provider returned no image",
            http_status=502,
            attempts=attempts,
        )
        raise ApiError(502, "provider_error", "The provider failed: it returned no image")
    usage = replace(result.usage or Usage(), images=len(result.outputs))
    task_succeed(task, result.outputs, usage, route=route, attempts=attempts, final=True)
    task.refresh_from_db()
    if task.status != MediaTask.Status.SUCCEEDED:
        raise ApiError(
            502, "storage_failed", task.error_message or "The images could not be stored"
        )
    return task


def _pending(task: MediaTask, upstream: UpstreamTask) -> MediaTask:
    """An accepted async task: its provider id kept, its first poll scheduled."""
    now = timezone.now()
    first = now + dt.timedelta(seconds=settings.GATEWAY_TASK_POLL_SECONDS)
    MediaTask.objects.filter(pk=task.pk, status__in=MediaTask.OPEN).update(
        provider_task_id=upstream.upstream_id[:200],
        provider_data=upstream.data,
        next_poll_at=min(first, task.deadline_at),
        updated_at=now,
    )
    task.refresh_from_db()
    return task
