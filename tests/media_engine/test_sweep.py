"""The sweep is batched: 500 open tasks at a provider answering each poll in 50 ms are
polled in a few seconds (one poll at a time would take 25 s), then all settled by the next
sweep, each exactly once; verify_ledger is clean after."""

from __future__ import annotations

import datetime as dt
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from billing.models import Hold, LedgerEntry
from gateway.media.engine import tasks_poll_due
from gateway.media.models import MediaTask
from tests.factories import AccountFactory
from tests.fakes.media import FakeMedia
from tests.media_engine.conftest import VIDEO_USD, MediaModel, create

TASKS = 500
POLL_DELAY = 0.05


@pytest.mark.django_db(transaction=True)  # the sweep polls on threads of their own
def test_500_open_tasks_swept_in_seconds(
    make_account: AccountFactory,
    media_model: MediaModel,
    media_upstream: FakeMedia,
    settings: object,
) -> None:
    settings.GATEWAY_TASK_POLL_CONCURRENCY = 32  # type: ignore[attr-defined]
    media_model("acme/vid", ["video"], "openai", ("after-1",), video_second=VIDEO_USD)
    account = make_account(TASKS * 100_000)
    for _ in range(TASKS):
        create(account, "video", "acme/vid", duration=1)
    assert account.held() == TASKS * 100_000
    media_upstream.poll_delay = POLL_DELAY
    due = timezone.now() + dt.timedelta(seconds=settings.GATEWAY_TASK_POLL_SECONDS)  # type: ignore[attr-defined]
    began = time.monotonic()
    first = tasks_poll_due(now=due)
    polled = time.monotonic() - began
    print(f"\nsweep of {TASKS} open tasks ({POLL_DELAY * 1000:.0f} ms a poll): {polled:.2f} s")
    assert (first.claimed, first.open, first.errors) == (TASKS, TASKS, 0)
    assert MediaTask.objects.filter(status="running", polls=1).count() == TASKS
    assert polled < TASKS * POLL_DELAY / 2  # one at a time: 25 s of provider latency alone
    # the next sweep finds each done: stored, settled once each
    began = time.monotonic()
    second = tasks_poll_due(now=due + dt.timedelta(seconds=120))
    settled = time.monotonic() - began
    print(f"sweep settling {TASKS} tasks: {settled:.2f} s")
    assert (second.claimed, second.succeeded, second.errors) == (TASKS, TASKS, 0)
    assert LedgerEntry.objects.filter(kind="usage").count() == TASKS
    assert account.balance() == 0 and account.held() == 0 and not Hold.objects.exists()
    # nothing is due any more
    assert tasks_poll_due(now=due + dt.timedelta(seconds=240)).claimed == 0
    out = StringIO()
    call_command("verify_ledger", stdout=out)
    assert f"{TASKS} media tasks checked" in out.getvalue()
