"""Tasks that end without output are refunded exactly once: a provider's failure, a task
the provider never finishes (its deadline passes), a user's cancel, a refusal at submission
and outputs that cannot be stored. A request over its budget or the account's credits is
refused before anything is held, written or created upstream."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from billing.models import Hold, LedgerEntry
from config.errors import ApiError, DomainError
from gateway.media.callbacks import callback_schedule  # noqa: F401  (the callbacks module exists)
from gateway.media.engine import task_cancel, task_fail, task_poll_once, tasks_poll_due
from gateway.media.models import Callback, MediaFile, MediaTask
from gateway.models import Generation, UsageDaily
from tests.factories import Account, AccountFactory
from tests.fakes.media import FakeMedia
from tests.media_engine.conftest import (
    IMAGE_USD,
    REQUEST_USD,
    VIDEO_USD,
    MediaModel,
    create,
    ledger_clean,
)

START = 10_000_000


def _refunded(account: Account, task: MediaTask, status: str, code: str) -> Generation:
    """The task ended as ``status`` with ``code``, nothing charged, its hold released."""
    task.refresh_from_db()
    assert (task.status, task.error_code, task.cost) == (status, code, 0)
    assert account.balance() == START and account.held() == 0
    assert not Hold.objects.filter(pk=task.hold_id).exists()
    assert not LedgerEntry.objects.filter(kind="usage", reference=task.request_id).exists()
    generation = Generation.objects.get(request_id=task.request_id)
    assert (generation.status, generation.error_code, generation.cost) == ("error", code, 0)
    assert generation.ledger_entry_id is None
    assert not UsageDaily.objects.exists()
    assert "ledger OK" in ledger_clean()
    return generation


def test_provider_failure_refunds(
    make_account: AccountFactory, media_model: MediaModel, media_upstream: FakeMedia
) -> None:
    media_model("acme/vid", ["video"], "openai", ("fail",), video_second=VIDEO_USD)
    account = make_account(START)
    task = create(account, "video", "acme/vid", duration=3)
    assert account.held() == 300_000
    task_poll_once(task.pk)
    generation = _refunded(account, task, "failed", "fake_failure")
    assert generation.surface == "videos"
    # a second failure, a late success and a cancel change nothing
    assert task_fail(task.pk, "again", "again") is False
    task.refresh_from_db()
    assert task_cancel(task).status == "failed"
    assert Generation.objects.filter(request_id=task.request_id).count() == 1


@pytest.mark.django_db(transaction=True)  # the sweep polls on threads of their own
def test_stuck_task_fails_at_its_deadline_and_is_refunded(
    make_account: AccountFactory, media_model: MediaModel, media_upstream: FakeMedia
) -> None:
    media_model("acme/song", ["audio"], "replicate", ("music/never",), audio_second="0.001")
    account = make_account(START)
    task = create(account, "music", "acme/song", duration=10)
    assert task.estimate == 10_000
    # polled a few times: still running, backing off (5 s, 10 s, 20 s)
    for polls in (1, 2, 3):
        before = MediaTask.objects.get(pk=task.pk).next_poll_at
        task = task_poll_once(task.pk)
        assert (task.status, task.polls) == ("running", polls)
        assert task.next_poll_at > before
    assert account.held() == 10_000
    # the hold outlives the task: it expires TIMEOUT + BILLING_HOLD_TTL_SECONDS after creation
    hold = Hold.objects.get(pk=task.hold_id)
    assert hold.expires_at >= task.deadline_at
    # past its deadline, the sweep fails it as timeout and asks the provider to cancel
    cancels = media_upstream.cancels
    report = tasks_poll_due(now=task.deadline_at + dt.timedelta(seconds=1))
    assert (report.claimed, report.timed_out) == (1, 1)
    generation = _refunded(account, task, "failed", "timeout")
    assert generation.http_status == 504
    assert media_upstream.cancels == cancels + 1


def test_user_cancel_refunds_and_cancels_upstream(
    make_account: AccountFactory, media_model: MediaModel, media_upstream: FakeMedia
) -> None:
    media_model("acme/rpic", ["image"], "replicate", ("pic/never",), image=IMAGE_USD)
    account = make_account(START)
    task = create(account, "image", "acme/rpic", n=2)
    assert account.held() == 80_000
    task = task_cancel(task)
    assert media_upstream.cancels == 1
    _refunded(account, task, "cancelled", "cancelled")
    # the poller finds it finished and asks the provider nothing
    polls = media_upstream.polls
    assert task_poll_once(task.pk).status == "cancelled"
    assert media_upstream.polls == polls


def test_provider_cancel_is_a_refunded_failure(
    make_account: AccountFactory, media_model: MediaModel, media_upstream: FakeMedia
) -> None:
    media_model("acme/rpic", ["image"], "replicate", ("pic/canceled",), image=IMAGE_USD)
    account = make_account(START)
    task = create(account, "image", "acme/rpic")
    task_poll_once(task.pk)
    _refunded(account, task, "failed", "cancelled")


@pytest.mark.parametrize(
    ("upstream", "status", "code"),
    [("submit-500", 502, "provider_error"), ("submit-400", 400, "invalid_request")],
)
def test_refused_submission_fails_the_task_and_raises(
    make_account: AccountFactory,
    media_model: MediaModel,
    media_upstream: FakeMedia,
    upstream: str,
    status: int,
    code: str,
) -> None:
    media_model("acme/vid", ["video"], "openai", (upstream,), video_second=VIDEO_USD)
    account = make_account(START)
    with pytest.raises(ApiError) as err:
        create(account, "video", "acme/vid", duration=2)
    assert (err.value.status, err.value.code) == (status, code)
    task = MediaTask.objects.get()
    _refunded(account, task, "failed", code)
    assert media_upstream.created == 0


def test_submission_fails_over_to_the_next_route(
    make_account: AccountFactory, media_model: MediaModel, media_upstream: FakeMedia
) -> None:
    media_model(
        "acme/pic", ["image"], "openai", ("submit-503", "ok"), image=IMAGE_USD, request=REQUEST_USD
    )
    account = make_account(START)
    task = create(account, "image", "acme/pic")
    assert (task.status, task.cost, task.upstream_model) == ("succeeded", 41_000, "ok")
    generation = Generation.objects.get(request_id=task.request_id)
    assert [(a["status"], a["error"] != "") for a in generation.attempts] == [
        (503, True),
        (200, False),
    ]
    assert account.balance() == START - 41_000


def test_max_credits_refused_before_anything(
    make_account: AccountFactory, media_model: MediaModel, media_upstream: FakeMedia
) -> None:
    media_model("acme/pic", ["image"], "openai", ("ok",), image=IMAGE_USD, request=REQUEST_USD)
    account = make_account(START)
    with pytest.raises(ApiError) as err:
        create(account, "image", "acme/pic", n=2, max_credits=80_999)
    assert (err.value.status, err.value.code, err.value.param) == (
        402,
        "max_credits_exceeded",
        "max_credits",
    )
    assert not MediaTask.objects.exists() and not Hold.objects.exists()
    assert media_upstream.created == 0 and account.balance() == START
    # at exactly the estimate it goes through
    assert create(account, "image", "acme/pic", n=2, max_credits=81_000).cost == 81_000


def test_insufficient_credits_creates_nothing_upstream(
    make_account: AccountFactory, media_model: MediaModel, media_upstream: FakeMedia
) -> None:
    media_model("acme/vid", ["video"], "openai", ("ok",), video_second=VIDEO_USD)
    account = make_account(399_999)
    with pytest.raises(DomainError) as err:
        create(account, "video", "acme/vid", duration=4)
    assert err.value.code == "insufficient_credits"
    assert not MediaTask.objects.exists() and not Hold.objects.exists()
    assert media_upstream.created == 0 and account.balance() == 399_999


def test_model_checks(
    make_account: AccountFactory, media_model: MediaModel, media_upstream: FakeMedia
) -> None:
    media_model("acme/pic", ["image"], "openai", ("ok",), image=IMAGE_USD)
    account = make_account(START)
    with pytest.raises(ApiError) as err:
        create(account, "video", "acme/pic", duration=2)
    assert (err.value.status, err.value.code) == (400, "invalid_parameter")
    assert err.value.param == "model"
    with pytest.raises(ApiError) as err:
        create(account, "image", "acme/nope")
    assert (err.value.status, err.value.param) == (404, "model")
    allowed = make_account(START, allowed_models=["other/model"])
    with pytest.raises(ApiError) as err:
        create(allowed, "image", "acme/pic")
    assert (err.value.status, err.value.code) == (403, "model_not_allowed")
    assert not MediaTask.objects.exists() and media_upstream.created == 0


def test_outputs_that_cannot_be_stored(
    make_account: AccountFactory,
    media_model: MediaModel,
    media_upstream: FakeMedia,
    settings: object,
) -> None:
    media_model("acme/pic", ["image"], "openai", ("ok",), image=IMAGE_USD)
    media_model("acme/vid", ["video"], "openai", ("ok",), video_second=VIDEO_USD)
    account = make_account(START)
    settings.GATEWAY_MEDIA_MAX_BYTES = 10  # type: ignore[attr-defined]
    # a synchronous answer cannot be fetched again: failed and refunded at once
    with pytest.raises(ApiError) as err:
        create(account, "image", "acme/pic")
    assert (err.value.status, err.value.code) == (502, "storage_failed")
    _refunded(account, MediaTask.objects.get(), "failed", "storage_failed")
    # a task's outputs are tried again at the next poll, and it stays held meanwhile
    task = create(account, "video", "acme/vid", duration=1)
    task = task_poll_once(task.pk)
    assert (task.status, task.polls, account.held()) == ("pending", 1, 100_000)
    settings.GATEWAY_MEDIA_MAX_BYTES = 10_000_000  # type: ignore[attr-defined]
    task = task_poll_once(task.pk)
    assert (task.status, task.cost) == ("succeeded", 100_000)
    assert MediaFile.objects.filter(task=task).count() == 1


def test_callback_scheduled_with_the_end(
    make_account: AccountFactory, media_model: MediaModel, media_upstream: FakeMedia
) -> None:
    media_model("acme/vid", ["video"], "openai", ("ok",), video_second=VIDEO_USD)
    media_model("acme/vid-fail", ["video"], "openai", ("fail",), video_second=VIDEO_USD)
    account = make_account(START)
    done = create(account, "video", "acme/vid", duration=1, callback_url="https://cb.example/x")
    failed = create(
        account, "video", "acme/vid-fail", duration=1, callback_url="https://cb.example/y"
    )
    assert not Callback.objects.exists()
    task_poll_once(done.pk)
    task_poll_once(failed.pk)
    events = dict(Callback.objects.values_list("task__public_id", "event"))
    assert events == {
        done.public_id: "gateway.task.completed",
        failed.public_id: "gateway.task.failed",
    }


def test_outputs_stored_by_a_poller_that_lost_to_a_cancel_are_discarded(
    make_account: AccountFactory,
    media_model: MediaModel,
    media_upstream: FakeMedia,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from django.core.files.storage import default_storage

    from gateway.media.engine import task_succeed
    from gateway.providers.dialect import MediaOutput

    media_model("acme/vid", ["video"], "openai", ("never",), video_second=VIDEO_USD)
    account = make_account(START)
    task = create(account, "video", "acme/vid", duration=1)
    stale = MediaTask.objects.get(pk=task.pk)  # a poller's copy, read while it was open
    # the user cancels; then the poller, whose provider said done, stores and tries to settle
    task_cancel(MediaTask.objects.get(pk=task.pk))
    output = MediaOutput(data=b"\x00\x00\x00\x18ftypmp42" + bytes(64), content_type="video/mp4")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert task_succeed(stale, (output,), None) is False
    assert len(callbacks) == 1  # the stored file's deletion, once the rows' is committed
    assert not MediaFile.objects.filter(task=task).exists()
    assert default_storage.listdir(f"media/{task.user_id}/{task.public_id}") == ([], [])
    _refunded(account, task, "cancelled", "cancelled")
