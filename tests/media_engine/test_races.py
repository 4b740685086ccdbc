"""Exactly once under races, on PostgreSQL: 20 pollers (threads, each its own connection)
and two workers sweeping at once on one finished task settle it once; a poller racing a
user's cancel gives exactly one settle or one release; ``verify_ledger`` is clean after."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from billing.models import Hold, LedgerEntry
from gateway.media.engine import task_cancel, task_poll_once, tasks_poll_due
from gateway.media.models import MediaFile, MediaTask
from gateway.models import Generation, UsageDaily
from tests.factories import AccountFactory
from tests.fakes.media import FakeMedia
from tests.media_engine.conftest import VIDEO_USD, MediaModel, create

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite serialises every writer, so there is no race to test",
    ),
    pytest.mark.django_db(transaction=True),
]

START = 10_000_000


def race(*jobs: Callable[[], object]) -> list[BaseException]:
    """Run the jobs on threads released together; the exceptions they raised."""
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def run(job: Callable[[], object]) -> None:
        try:
            barrier.wait()
            job()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def verify_ledger_clean() -> str:
    out = StringIO()
    call_command("verify_ledger", stdout=out)
    return out.getvalue()


def verify_ledger_breaches() -> str:
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("verify_ledger", stderr=err)
    return err.getvalue()


def test_twenty_pollers_and_two_workers_settle_once(
    make_account: AccountFactory, media_model: MediaModel, media_upstream: FakeMedia
) -> None:
    media_model("acme/vid", ["video"], "openai", ("ok",), video_second=VIDEO_USD)
    account = make_account(START)
    task = create(account, "video", "acme/vid", duration=3)
    MediaTask.objects.filter(pk=task.pk).update(next_poll_at=timezone.now())
    media_upstream.poll_delay = 0.02  # the pollers overlap at the provider too
    reports: list[object] = []
    jobs = [lambda: task_poll_once(task.pk) for _ in range(20)]
    jobs += [lambda: reports.append(tasks_poll_due()) for _ in range(2)]
    assert race(*jobs) == []
    task.refresh_from_db()
    assert (task.status, task.cost) == ("succeeded", 300_000)
    usage = LedgerEntry.objects.filter(kind="usage", reference=task.request_id)
    assert [e.amount for e in usage] == [-300_000]
    assert Generation.objects.filter(request_id=task.request_id).count() == 1
    assert UsageDaily.objects.get(user=account.user).requests == 1
    assert MediaFile.objects.filter(task=task).count() == 1
    assert not Hold.objects.exists()
    assert account.balance() == START - 300_000 and account.held() == 0
    # the two workers together claimed it at most once each, and polls reached the provider
    assert sum(r.claimed for r in reports) <= 2  # type: ignore[attr-defined]
    assert media_upstream.polls >= 1
    assert "ledger OK" in verify_ledger_clean()


def test_poller_racing_a_cancel_ends_once(
    make_account: AccountFactory, media_model: MediaModel, media_upstream: FakeMedia
) -> None:
    media_model("acme/vid", ["video"], "openai", ("ok",), video_second=VIDEO_USD)
    account = make_account(START)
    tasks = [create(account, "video", "acme/vid", duration=1) for _ in range(12)]
    assert account.held() == 12 * 100_000
    for i, task in enumerate(tasks):
        fresh = MediaTask.objects.get(pk=task.pk)
        jobs: list[Callable[[], object]] = [lambda t=fresh: task_poll_once(t.pk) for _ in range(3)]
        # the cancel comes a little later each round, so both ends are seen
        jobs.append(lambda t=fresh, wait=i * 0.004: (time.sleep(wait), task_cancel(t)))
        assert race(*jobs) == []
    outcomes = {"succeeded": 0, "cancelled": 0}
    for task in tasks:
        task.refresh_from_db()
        outcomes[task.status] += 1
        usage = list(LedgerEntry.objects.filter(kind="usage", reference=task.request_id))
        generations = list(Generation.objects.filter(request_id=task.request_id))
        assert len(generations) == 1
        stored = Path(settings.MEDIA_ROOT) / "media" / str(task.user_id) / task.public_id
        on_disk = [p for p in stored.rglob("*") if p.is_file()] if stored.exists() else []
        if task.status == "succeeded":
            assert [e.amount for e in usage] == [-100_000] and task.cost == 100_000
            assert generations[0].status == "success"
            assert MediaFile.objects.filter(task=task).count() == 1 and len(on_disk) == 1
        else:
            assert usage == [] and task.cost == 0
            assert (generations[0].status, generations[0].error_code) == ("error", "cancelled")
            # a poller that stored the output before losing to the cancel left nothing
            assert not MediaFile.objects.filter(task=task).exists() and on_disk == []
    assert sum(outcomes.values()) == 12
    print(f"poll vs cancel: {outcomes}")
    assert account.balance() == START - 100_000 * outcomes["succeeded"]
    assert account.held() == 0 and not Hold.objects.exists()
    assert "ledger OK" in verify_ledger_clean()


def test_verify_ledger_reports_task_hold_breaches(
    make_account: AccountFactory, media_model: MediaModel, media_upstream: FakeMedia
) -> None:
    media_model("acme/vid", ["video"], "openai", ("never",), video_second=VIDEO_USD)
    account = make_account(START)
    open_task = create(account, "video", "acme/vid", duration=1)
    assert "1 media tasks checked" in verify_ledger_clean()
    # a hold that would expire before its task's deadline is a breach
    Hold.objects.filter(pk=open_task.hold_id).update(
        expires_at=open_task.deadline_at - dt.timedelta(seconds=1)
    )
    assert f"media task {open_task.public_id}: its hold {open_task.hold_id} expires at" in (
        verify_ledger_breaches()
    )
    # a finished task whose status was forced without its release still holds: a breach
    MediaTask.objects.filter(pk=open_task.pk).update(status="failed")
    assert f"media task {open_task.public_id}: failed but its hold" in verify_ledger_breaches()
    # repaired, it is clean again
    MediaTask.objects.filter(pk=open_task.pk).update(status="pending")
    Hold.objects.filter(pk=open_task.hold_id).update(expires_at=open_task.deadline_at)
    assert "1 media tasks checked" in verify_ledger_clean()
