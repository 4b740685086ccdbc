"""A media task's terminal writes: the compare-and-set of its status and the ledger's settle
or release of its own hold, in one durable transaction, with its Generation record and, for
a settle, its daily rollup (``gateway.records.usage``).

The conditional UPDATE (``status IN ('pending', 'running')``) is the first statement of the
transaction: the one writer whose UPDATE changes the row settles or releases; every other
one changes nothing and writes nothing. So any number of pollers, workers and a user's
cancel at once give exactly one settle or one release, one ledger entry at most and one
Generation. The settle charges the actual cost, never more than the hold. When the task has
a ``callback_url``, its callback is scheduled in the same transaction
(``gateway.media.callbacks.callback_schedule``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from billing.ledger import HoldRef, ledger
from billing.models import CreditAccount, Hold
from billing.pricing import Usage
from config.db import pool_retry
from gateway.media.models import MediaFile, MediaTask
from gateway.media.pricing import media_cost, prices_of, usage_json
from gateway.models import Generation
from gateway.ops.metrics import request_observe
from gateway.records.outcome import GenerationRow
from gateway.records.usage import UsageRow

log = logging.getLogger(__name__)

# The request log's surface of each kind of task.
SURFACES: dict[str, str] = {"image": "images", "video": "videos", "music": "music"}
ERROR_MESSAGE_MAX = 2000


def hold_of(task: MediaTask) -> HoldRef:
    """The task's hold as the ledger needs it: read from its row while it is open (the
    row is authoritative), else rebuilt from the task (a hold already closed, or a free
    task's hold of nothing)."""
    if task.hold_id:
        hold = (
            Hold.objects.filter(pk=task.hold_id)
            .values("account_id", "api_key_id", "month", "amount", "request_id")
            .first()
        )
        if hold is not None:
            return HoldRef(id=task.hold_id, **hold)
    account_id = CreditAccount.objects.filter(user_id=task.user_id).values_list("pk", flat=True)
    return HoldRef(
        id=task.hold_id,
        account_id=account_id.get(),
        api_key_id=task.api_key_id,
        month=task.hold_month,
        amount=task.estimate,
        request_id=task.request_id,
    )


def generation_row(
    task: MediaTask,
    *,
    status: str,
    http_status: int,
    usage: Usage,
    error_code: str = "",
    cost_breakdown: dict[str, str] | None = None,
    attempts: Sequence[dict[str, Any]] = (),
) -> GenerationRow:
    """The task's Generation (the ledger fills its entry, cost and time): the media usage
    in ``native_usage``, the latency from creation to now."""
    latency = timezone.now() - task.created_at
    return GenerationRow(
        request_id=task.request_id,
        user_id=task.user_id,
        api_key_id=task.api_key_id,
        model=task.model,
        route_id=task.route_id,
        provider=task.provider,
        upstream_model=task.upstream_model,
        surface=SURFACES[task.kind],
        status=str(status),
        http_status=http_status,
        error_code=error_code,
        finish_reason="",
        latency_ms=max(0, int(latency / dt.timedelta(milliseconds=1))),
        ttft_ms=None,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cached_tokens=usage.cached_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        native_usage={"kind": task.kind, **usage_json(usage)},
        prices=dict(task.prices),
        cost_breakdown=cost_breakdown or {},
        attempts=list(attempts),
        is_streamed=False,
        usage_estimated=False,
    )


def _claim(task_id: int, **fields: Any) -> MediaTask | None:
    """The compare-and-set: the task moved from an open status to ``fields``, read back;
    None if it had already left them (someone else finished it)."""
    changed = MediaTask.objects.filter(pk=task_id, status__in=MediaTask.OPEN).update(
        updated_at=timezone.now(), **fields
    )
    if not changed:
        return None
    return MediaTask.objects.get(pk=task_id)


def _callback(task: MediaTask) -> None:
    if task.callback_url:
        # Imported here so that a task without a callback never needs it; a missing module
        # is an ImportError that rolls the transaction back, never a silently lost callback.
        from gateway.media.callbacks import callback_schedule

        callback_schedule(task)


def _sync(task: MediaTask, fresh: MediaTask) -> None:
    """Copy the finished row's state onto the caller's instance."""
    for name in ("status", "usage", "cost", "error_code", "error_message", "completed_at"):
        setattr(task, name, getattr(fresh, name))
    task.next_poll_at = fresh.next_poll_at
    task.updated_at = fresh.updated_at


@pool_retry
def task_settle(task: MediaTask, usage: Usage, *, attempts: Sequence[dict[str, Any]] = ()) -> bool:
    """Succeed the task and charge what ``usage`` costs at its price snapshot, capped at
    its hold, exactly once: False if the task had already ended (nothing written)."""
    cost = media_cost(prices_of(task.prices), usage)
    charge = min(cost.total, task.estimate)
    with transaction.atomic(durable=True):
        fresh = _claim(
            task.pk,
            status=MediaTask.Status.SUCCEEDED,
            usage=usage_json(usage),
            cost=charge,
            error_code="",
            error_message="",
            completed_at=timezone.now(),
            next_poll_at=None,
        )
        if fresh is None:
            return False
        row = generation_row(
            fresh,
            status=Generation.Status.SUCCESS,
            http_status=200,
            usage=usage,
            cost_breakdown=cost.breakdown(),
            attempts=attempts,
        )
        settled = ledger().settle_step(
            hold=hold_of(fresh),
            cost=charge,
            memo=fresh.model,
            record=row,
            accumulate=UsageRow.of(row),
        )
        charged = -settled.entry.amount
        if charged != charge:  # a hold already closed is charged only what is available
            log.error("task %s: charged %s of %s", fresh.public_id, charged, charge)
            MediaTask.objects.filter(pk=fresh.pk).update(cost=charged)
            fresh.cost = charged
        _callback(fresh)
    request_observe(row, cost=fresh.cost)
    _sync(task, fresh)
    return True


@pool_retry
def task_release(
    task_id: int,
    *,
    status: str,
    code: str,
    message: str,
    http_status: int,
    attempts: Sequence[dict[str, Any]] = (),
) -> bool:
    """End the task as ``status`` (failed or cancelled) and give its hold back uncharged,
    exactly once: False if it had already ended (nothing written). The Generation records
    the failure (status error, ``code``), at no cost."""
    with transaction.atomic(durable=True):
        fresh = _claim(
            task_id,
            status=status,
            cost=0,
            error_code=code[:64],
            error_message=message[:ERROR_MESSAGE_MAX],
            completed_at=timezone.now(),
            next_poll_at=None,
        )
        if fresh is None:
            return False
        row = generation_row(
            fresh,
            status=Generation.Status.ERROR,
            http_status=http_status,
            usage=Usage(),
            error_code=code[:64],
            attempts=attempts,
        )
        ledger().release_step(hold=hold_of(fresh), record=row)
        files_discard(task_id)
        _callback(fresh)
    request_observe(row)
    return True


def files_discard(task_id: int) -> int:
    """Delete the outputs stored for a task that did not succeed (a poller storing them
    lost the race to a cancel or a failure): their rows now, inside the caller's
    transaction if any, their storage files once that commits. A refunded task shows no
    output. The number of files discarded."""
    files = list(MediaFile.objects.filter(task_id=task_id).values_list("pk", "name"))
    if not files:
        return 0
    MediaFile.objects.filter(pk__in=[pk for pk, _ in files]).delete()

    def delete_stored() -> None:
        for _, name in files:
            try:
                default_storage.delete(name)
            except Exception:
                log.exception("task %s: deleting the stored output %s failed", task_id, name)

    transaction.on_commit(delete_stored)
    return len(files)
