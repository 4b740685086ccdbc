"""Each kind of task end to end against the fake media upstream, with the exact charge: the
hold taken at creation, the ledger's one usage entry, the Generation on its surface, the
daily rollup, the stored files and no hold left."""

from __future__ import annotations

from billing.models import Hold, LedgerEntry
from gateway.media.engine import task_poll_once
from gateway.media.models import MediaFile, MediaTask
from gateway.models import Generation, UsageDaily
from tests.factories import AccountFactory
from tests.fakes.media import FakeMedia
from tests.media_engine.conftest import (
    AUDIO_USD,
    IMAGE_USD,
    REQUEST_USD,
    VIDEO_USD,
    MediaModel,
    create,
    ledger_clean,
)

START = 10_000_000


def _charged_once(task: MediaTask, cost: int, surface: str) -> Generation:
    """The task succeeded and was charged ``cost`` exactly once, recorded on ``surface``."""
    task.refresh_from_db()
    assert (task.status, task.cost) == (MediaTask.Status.SUCCEEDED, cost)
    entries = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.USAGE, reference=task.request_id)
    assert [e.amount for e in entries] == [-cost]
    generation = Generation.objects.get(request_id=task.request_id)
    assert (generation.status, generation.surface, generation.cost) == ("success", surface, cost)
    assert generation.ledger_entry_id == entries[0].pk
    rollup = UsageDaily.objects.get(user_id=task.user_id, model=task.model)
    assert (rollup.requests, rollup.cost) == (1, cost)
    assert not Hold.objects.filter(pk=task.hold_id).exists()
    assert "ledger OK" in ledger_clean()
    return generation


def test_sync_image_stored_and_charged_before_returning(
    make_account: AccountFactory, media_model: MediaModel, media_upstream: FakeMedia
) -> None:
    media_model("acme/pic", ["image"], "openai", ("ok",), image=IMAGE_USD, request=REQUEST_USD)
    account = make_account(START)
    task = create(account, "image", "acme/pic", n=2, size="1024x1024")
    # 2 images x 40,000 + 1,000 for the request
    assert task.estimate == 81_000
    generation = _charged_once(task, 81_000, "images")
    assert generation.native_usage == {"kind": "image", "images": 2}
    assert account.balance() == START - 81_000 and account.held() == 0
    files = list(MediaFile.objects.filter(task=task).order_by("index"))
    assert [(f.index, f.content_type) for f in files] == [(0, "image/png"), (1, "image/png")]
    assert media_upstream.created == 1 and media_upstream.polls == 0


def test_video_polled_until_done_then_charged_per_second(
    make_account: AccountFactory, media_model: MediaModel, media_upstream: FakeMedia
) -> None:
    media_model("acme/vid", ["video"], "openai", ("after-1",), video_second=VIDEO_USD)
    account = make_account(START)
    task = create(account, "video", "acme/vid", duration=4)
    assert (task.status, task.estimate, task.next_poll_at is not None) == ("pending", 400_000, True)
    assert account.held() == 400_000
    task = task_poll_once(task.pk)
    assert (task.status, task.polls) == (MediaTask.Status.RUNNING, 1)
    assert account.held() == 400_000
    task = task_poll_once(task.pk)
    generation = _charged_once(task, 400_000, "videos")
    assert generation.native_usage == {"kind": "video", "video_seconds": "4"}
    assert account.balance() == START - 400_000 and account.held() == 0
    assert MediaFile.objects.get(task=task).content_type == "video/mp4"
    # a poll of a finished task asks the provider nothing and charges nothing more
    polls = media_upstream.polls
    task_poll_once(task.pk)
    assert media_upstream.polls == polls
    assert account.balance() == START - 400_000


def test_music_on_replicate_charged_per_second(
    make_account: AccountFactory, media_model: MediaModel, media_upstream: FakeMedia
) -> None:
    media_model("acme/song", ["audio"], "replicate", ("music/ok",), audio_second=AUDIO_USD)
    account = make_account(START)
    task = create(account, "music", "acme/song", duration=12)
    assert (task.status, task.estimate) == ("pending", 30_000)  # 12 s x 2,500
    task = task_poll_once(task.pk)
    generation = _charged_once(task, 30_000, "music")
    assert generation.native_usage["audio_seconds"] == "12"
    assert account.balance() == START - 30_000
    assert MediaFile.objects.get(task=task).content_type == "audio/wav"


def test_async_images_on_replicate(
    make_account: AccountFactory, media_model: MediaModel, media_upstream: FakeMedia
) -> None:
    media_model(
        "acme/rpic", ["image"], "replicate", ("pic/ok",), image=IMAGE_USD, request=REQUEST_USD
    )
    account = make_account(START)
    task = create(account, "image", "acme/rpic", n=3)
    assert (task.status, task.estimate) == ("pending", 121_000)
    task = task_poll_once(task.pk)
    _charged_once(task, 121_000, "images")
    assert MediaFile.objects.filter(task=task).count() == 3
    assert account.balance() == START - 121_000


def test_settle_is_capped_at_the_hold(
    make_account: AccountFactory, media_model: MediaModel, media_upstream: FakeMedia
) -> None:
    # an image model pricing completion tokens (100 credits each): the estimate holds the
    # image (10,000), but the fake's b64 answer reports 50 output tokens (5,000 more)
    media_model("acme/tok-pic", ["image"], "openai", ("b64",), image="0.01", completion="100")
    account = make_account(START)
    task = create(account, "image", "acme/tok-pic", n=1)
    assert task.estimate == 10_000
    generation = _charged_once(task, 10_000, "images")
    # the record keeps what the provider reported and the uncapped breakdown
    assert generation.completion_tokens == 50
    assert generation.cost_breakdown["completion"] == "5000"
    assert account.balance() == START - 10_000
