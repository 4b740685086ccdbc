"""Celery tasks of the gateway: each calls one service and nothing else."""

from __future__ import annotations

import dataclasses

from celery import shared_task

from gateway.records import sweeper


@shared_task(name="gateway.tasks.holds_sweep")
def holds_sweep() -> dict[str, int]:
    """Close the holds of requests that died (scheduled every minute; see
    ``gateway.records.sweeper``); returns what it did: holds released, interrupted records written,
    credits charged."""
    report = sweeper.holds_sweep()
    return {
        "released": report.released,
        "interrupted": report.interrupted,
        "charged": report.charged,
    }


@shared_task(name="gateway.tasks.media_tasks_poll")
def media_tasks_poll() -> dict[str, int]:
    """Poll the media tasks that are due at their providers, concurrently, ending those that
    finished, failed or timed out (scheduled every ``GATEWAY_TASK_POLL_SECONDS``; see
    ``gateway.media.polling``); returns what the sweep did."""
    from gateway.media.polling import tasks_poll_due

    report = tasks_poll_due()
    return {
        "claimed": report.claimed,
        "open": report.open,
        "succeeded": report.succeeded,
        "failed": report.failed,
        "timed_out": report.timed_out,
        "ended": report.ended,
        "errors": report.errors,
    }


@shared_task(name="gateway.tasks.media_callbacks_deliver")
def media_callbacks_deliver() -> dict[str, int]:
    """Send the finished tasks' callbacks that are due (see ``gateway.media.callbacks``);
    returns what the delivery did."""
    from gateway.media.callbacks import callbacks_deliver

    report = callbacks_deliver()
    return {k: v for k, v in dataclasses.asdict(report).items() if isinstance(v, int)}
