"""Following open tasks at their providers, and ending them: one poll (``task_poll_once``),
the beat's sweep (``tasks_poll_due``), success (``task_succeed``), failure (``task_fail``)
and a user's cancel (``task_cancel``). Every end is ``gateway.media.records``'s
compare-and-set with the settle or release of the task's hold, so concurrent pollers,
workers and a cancel end a task exactly once.

The sweep claims the due open tasks (``next_poll_at`` passed; a task with none, whose
submission never finished, once its deadline passed): on PostgreSQL one ``SELECT … FOR
UPDATE SKIP LOCKED`` with the lease written in the same transaction, so concurrent workers
claim disjoint tasks; elsewhere a conditional UPDATE per task (its ``next_poll_at`` still
the one read). The lease (``next_poll_at`` moved ``GATEWAY_TASK_POLL_MAX_SECONDS`` ahead)
makes a task whose worker died due again. The claimed tasks are polled
``GATEWAY_TASK_POLL_CONCURRENCY`` at a time on threads, each with its own database
connection, given back before the provider is called. An open task is polled again after
``GATEWAY_TASK_POLL_SECONDS``, doubling after every poll up to
``GATEWAY_TASK_POLL_MAX_SECONDS``, and never later than its deadline; past
``deadline_at`` it is failed (``timeout``) and refunded.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from billing.pricing import Usage
from catalog.models import Route
from catalog.selectors import RouteInfo, model_resolve
from config import db
from gateway.media.models import MediaTask
from gateway.media.pricing import seconds_of
from gateway.media.records import files_discard, task_release, task_settle
from gateway.pipeline.upstream import dialect_for
from gateway.providers import ProviderError
from gateway.providers.dialect import MediaOutput, UpstreamTask

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PollReport:
    """What one sweep did: tasks claimed, polls answered still open, tasks succeeded,
    failed (the provider's failure), timed out, ended by someone else meanwhile (a cancel,
    another poller), and polls that raised; ``seconds`` the sweep's duration."""

    claimed: int = 0
    open: int = 0
    ended: int = 0
    succeeded: int = 0
    failed: int = 0
    timed_out: int = 0
    errors: int = 0
    seconds: float = 0.0
    ids: list[int] = field(default_factory=list, repr=False)


def route_info(task: MediaTask) -> RouteInfo:
    """The route the task was submitted through: from the catalog snapshot, or, when the
    route left it (disabled since), from the registry; ProviderError if it was deleted."""
    model = model_resolve(name=task.model)
    for route in model.routes if model is not None else ():
        if route.id == task.route_id:
            return route
    row = Route.objects.select_related("provider").filter(pk=task.route_id).first()
    if row is None:
        raise ProviderError("The task's route no longer exists", retryable=False)
    return RouteInfo(
        id=row.id,
        provider_slug=row.provider.slug,
        provider_name=row.provider.name or row.provider.slug,
        dialect=row.provider.dialect,
        base_url=row.provider.base_url.rstrip("/"),
        api_key_env=row.provider.api_key_env,
        upstream_model=row.upstream_model,
        priority=row.priority,
        weight=row.weight,
    )


def _upstream(task: MediaTask) -> UpstreamTask:
    return UpstreamTask(upstream_id=task.provider_task_id, data=dict(task.provider_data or {}))


def _backoff(polls: int) -> float:
    """The wait after the ``polls``-th poll: the shortest interval, doubled each poll."""
    base = settings.GATEWAY_TASK_POLL_SECONDS
    return min(base * (2 ** min(polls, 30)), settings.GATEWAY_TASK_POLL_MAX_SECONDS)


def _reschedule(task: MediaTask, now: dt.datetime, *, running: bool = False) -> None:
    polls = task.polls + 1
    due = min(now + dt.timedelta(seconds=_backoff(polls)), task.deadline_at)
    fields: dict[str, Any] = {"polls": polls, "next_poll_at": due, "updated_at": timezone.now()}
    if running:
        fields["status"] = MediaTask.Status.RUNNING
    MediaTask.objects.filter(pk=task.pk, status__in=MediaTask.OPEN).update(**fields)


def _release_connection() -> None:
    """Give the connection back before a provider call (the pool lends it to others)."""
    if not connection.in_atomic_block:
        connection.close()


def task_poll_once(task_id: int, *, now: dt.datetime | None = None) -> MediaTask:
    """Poll the task's provider once and act on the answer: still open (polled again
    later, with backoff), succeeded (outputs stored, then settled), failed (released).
    A task past its deadline is failed as ``timeout`` and refunded, without a poll. A
    finished task is returned as it is."""
    task = MediaTask.objects.get(pk=task_id)
    if task.is_open:
        _poll(task, now or timezone.now())
        task = MediaTask.objects.get(pk=task_id)
    return task


def _poll(task: MediaTask, now: dt.datetime) -> str:
    """One poll of an open task (as read moments ago); what came of it: ``open``,
    ``succeeded``, ``failed``, ``timed_out``, or ``ended`` (by someone else meanwhile)."""
    if task.deadline_at <= now:
        return "timed_out" if _timeout(task) else "ended"
    if not task.provider_task_id:  # still being submitted: nothing to poll yet
        return "open"
    try:
        route = route_info(task)
        dialect = dialect_for(route)
        _release_connection()
        poll = dialect.task_poll(route, _upstream(task))
    except ProviderError as exc:
        if exc.retryable:
            log.warning("task %s: poll failed (%s), retried later", task.public_id, exc.code)
            _reschedule(task, now)
            return "open"
        failed = task_fail(task.pk, exc.code or "provider_error", f"The provider failed: {exc}")
        return "failed" if failed else "ended"
    if poll.state == "succeeded":
        return _succeed(task, poll.outputs, poll.usage, route=route)
    if poll.state == "failed":
        code, error = poll.error_code or "provider_failed", poll.error or "The provider failed"
        return "failed" if task_fail(task.pk, code, error) else "ended"
    _reschedule(task, now, running=poll.state == "running")
    return "open"


def _timeout(task: MediaTask) -> bool:
    _cancel_upstream(task)
    return task_release(
        task.pk,
        status=MediaTask.Status.FAILED,
        code="timeout",
        message="The provider did not finish the task in time",
        http_status=504,
    )


def _cancel_upstream(task: MediaTask) -> None:
    """Ask the provider to stop the task; best effort (a failure is only logged)."""
    if not task.provider_task_id:
        return
    try:
        route = route_info(task)
        dialect = dialect_for(route)
        _release_connection()
        dialect.task_cancel(route, _upstream(task))
    except ProviderError as exc:
        log.warning("task %s: cancel at the provider failed: %s", task.public_id, exc.code)


def usage_effective(
    task: MediaTask, outputs: Sequence[MediaOutput], reported: Usage | None
) -> Usage:
    """What a finished task is charged for: the provider's reported usage, with the images
    counted as the outputs returned, and the seconds asked for when it reports none."""
    usage = reported or Usage()
    params = task.params or {}
    fields: dict[str, Any] = {}
    if task.kind == "image" and outputs:
        fields["images"] = len(outputs)
    elif task.kind == "video" and not usage.video_seconds and params.get("duration") is not None:
        fields["video_seconds"] = seconds_of(params["duration"])
    elif task.kind == "music" and not usage.audio_seconds:
        duration = params.get("duration")
        fields["audio_seconds"] = seconds_of(
            duration if duration is not None else settings.GATEWAY_MUSIC_DEFAULT_SECONDS
        )
    if not fields:
        return usage
    values = {name: getattr(usage, name) for name in Usage.__dataclass_fields__}
    return Usage(**{**values, **fields})


def task_succeed(
    task: MediaTask,
    outputs: Sequence[MediaOutput],
    usage: Usage | None,
    *,
    route: RouteInfo | None = None,
    attempts: Sequence[dict[str, Any]] = (),
    final: bool = False,
) -> bool:
    """Store the outputs (``gateway.media.storage.outputs_store``, idempotent), then
    succeed the task and settle it, once: False if someone else ended it first, or the
    outputs could not be stored (retried on the next poll, failed after the deadline, or
    at once when ``final``: a synchronous answer cannot be fetched again)."""
    if not task.is_open:
        return False
    ended = _succeed(task, outputs, usage, route=route, attempts=attempts, final=final)
    return ended == "succeeded"


def _succeed(
    task: MediaTask,
    outputs: Sequence[MediaOutput],
    usage: Usage | None,
    *,
    route: RouteInfo | None = None,
    attempts: Sequence[dict[str, Any]] = (),
    final: bool = False,
) -> str:
    """``task_succeed``, saying what came of it (as ``_poll``)."""
    from gateway.media.storage import StorageFailed, outputs_store

    if not outputs:
        failed = task_fail(task.pk, "empty_output", "The provider returned no output")
        return "failed" if failed else "ended"
    route = route or route_info(task)
    dialect = dialect_for(route)
    try:
        outputs_store(task, outputs, lambda output: dialect.output_open(route, output))
    except StorageFailed as exc:
        now = timezone.now()
        if not MediaTask.objects.filter(pk=task.pk, status__in=MediaTask.OPEN).exists():
            _discard_unless_succeeded(task)  # ended meanwhile (a cancel raced this poll)
            return "ended"
        if final or task.deadline_at <= now:
            failed = task_release(
                task.pk,
                status=MediaTask.Status.FAILED,
                code="storage_failed",
                message=f"The outputs could not be stored: {exc}",
                http_status=502,
                attempts=attempts,
            )
            return "failed" if failed else "ended"
        log.warning("task %s: storing outputs failed (%s), retried", task.public_id, exc)
        _reschedule(task, now)
        return "open"
    if task_settle(task, usage_effective(task, outputs, usage), attempts=attempts):
        return "succeeded"
    _discard_unless_succeeded(task)  # someone else ended it first
    return "ended"


def _discard_unless_succeeded(task: MediaTask) -> None:
    """What a poller stored for a task that then ended otherwise (a cancel) goes."""
    if MediaTask.objects.filter(pk=task.pk).exclude(status=MediaTask.Status.SUCCEEDED).exists():
        files_discard(task.pk)


def task_fail(task_id: int, code: str, message: str, *, http_status: int = 502) -> bool:
    """Fail the task and release its hold, once: False if it had already ended."""
    return task_release(
        task_id, status=MediaTask.Status.FAILED, code=code, message=message, http_status=http_status
    )


def task_cancel(task: MediaTask) -> MediaTask:
    """A user's cancel of an open task: asked at the provider (best effort), then the task
    cancelled and its hold released, once. A finished task is returned as it is."""
    if task.is_open:
        _cancel_upstream(task)
        task_release(
            task.pk,
            status=MediaTask.Status.CANCELLED,
            code="cancelled",
            message="The task was cancelled",
            http_status=499,
        )
    task.refresh_from_db()
    return task


# --- the sweep ---------------------------------------------------------------------------------


def _due(now: dt.datetime) -> Q:
    return Q(status__in=MediaTask.OPEN) & (
        Q(next_poll_at__lte=now) | Q(next_poll_at__isnull=True, deadline_at__lte=now)
    )


def tasks_claim(now: dt.datetime, *, limit: int) -> list[MediaTask]:
    """Claim up to ``limit`` due open tasks (earliest due first) for this worker: their
    ``next_poll_at`` moved a lease ahead, so no other sweep claims them meanwhile. The
    rows as read when claimed."""
    lease = timezone.now() + dt.timedelta(seconds=settings.GATEWAY_TASK_POLL_MAX_SECONDS)
    due = MediaTask.objects.filter(_due(now)).order_by("next_poll_at", "id")
    return db.rows_claim(
        due,
        limit=limit,
        claim={"next_poll_at": lease},
        unchanged=lambda task: (
            (
                Q(next_poll_at__isnull=True)
                if task.next_poll_at is None
                else Q(next_poll_at=task.next_poll_at)
            )
            & Q(status__in=MediaTask.OPEN)
        ),
    )


def _poll_claimed(task: MediaTask, now: dt.datetime) -> str:
    try:
        return _poll(task, now)
    except Exception:
        log.exception("polling task %s failed", task.public_id)
        return "errors"
    finally:
        connection.close()  # this thread's own connection, back to the pool


def tasks_poll_due(now: dt.datetime | None = None) -> PollReport:
    """The beat's sweep: claim the due open tasks (``GATEWAY_TASK_POLL_BATCH`` at most)
    and poll them ``GATEWAY_TASK_POLL_CONCURRENCY`` at a time."""
    began = time.monotonic()
    now = now or timezone.now()
    tasks = tasks_claim(now, limit=settings.GATEWAY_TASK_POLL_BATCH)
    report = PollReport(claimed=len(tasks), ids=[t.pk for t in tasks])
    if tasks:
        _release_connection()  # idle while the threads poll: back to the pool meanwhile
        workers = max(1, min(settings.GATEWAY_TASK_POLL_CONCURRENCY, len(tasks)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="media-poll") as pool:
            for outcome in pool.map(lambda task: _poll_claimed(task, now), tasks):
                setattr(report, outcome, getattr(report, outcome) + 1)
    report.seconds = time.monotonic() - began
    return report
