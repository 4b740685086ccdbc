"""A task's hold counts against its key's spend limit while it runs: its settle moves the
charge into the key's period, its release gives the hold back; a key whose limit the
estimate exceeds is refused with nothing created. A free model's task is charged nothing,
with its zero usage entry and its record."""

from __future__ import annotations

import pytest

from billing.models import KeySpend, LedgerEntry
from config.errors import DomainError
from gateway.media.engine import task_poll_once
from gateway.media.models import MediaTask
from gateway.models import Generation
from tests.factories import AccountFactory
from tests.fakes.media import FakeMedia
from tests.media_engine.conftest import VIDEO_USD, MediaModel, create

START = 10_000_000


def test_key_limit_holds_settles_and_releases(
    make_account: AccountFactory, media_model: MediaModel, media_upstream: FakeMedia
) -> None:
    media_model("acme/vid", ["video"], "openai", ("after-1",), video_second=VIDEO_USD)
    media_model("acme/vid-fail", ["video"], "openai", ("fail",), video_second=VIDEO_USD)
    account = make_account(START, monthly_limit=500_000)
    done = create(account, "video", "acme/vid", duration=2)
    failed = create(account, "video", "acme/vid-fail", duration=2)
    spend = KeySpend.objects.get(api_key=account.key)
    assert (spend.spent, spend.held) == (0, 400_000)
    # a third task would take the period past its limit: refused, nothing created upstream
    created = media_upstream.created
    with pytest.raises(DomainError) as err:
        create(account, "video", "acme/vid", duration=2)
    assert err.value.code == "key_limit_exceeded"
    assert media_upstream.created == created and MediaTask.objects.count() == 2
    task_poll_once(failed.pk)
    task_poll_once(done.pk)
    task_poll_once(done.pk)
    spend.refresh_from_db()
    assert (spend.spent, spend.held) == (200_000, 0)
    assert account.balance() == START - 200_000 and account.held() == 0


def test_free_model_task_charges_nothing(
    make_account: AccountFactory, media_model: MediaModel, media_upstream: FakeMedia
) -> None:
    media_model("acme/free", ["image"], "openai", ("ok",))
    account = make_account(START)
    task = create(account, "image", "acme/free", n=2)
    assert (task.status, task.estimate, task.hold_id, task.cost) == ("succeeded", 0, 0, 0)
    entry = LedgerEntry.objects.get(kind="usage", reference=task.request_id)
    assert entry.amount == 0
    generation = Generation.objects.get(request_id=task.request_id)
    assert (generation.status, generation.cost, generation.ledger_entry_id) == (
        "success",
        0,
        entry.pk,
    )
    assert account.balance() == START
