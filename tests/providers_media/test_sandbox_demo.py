"""The demo catalog's sandbox media models, as ``./run`` serves them: images answered at
once, a video and music done at the poller's second sweep, every output a valid file behind
the gateway's link, and nothing charged (the models are free)."""

from __future__ import annotations

import datetime as dt
import io
import json
import wave
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from catalog.services import catalog_import
from gateway.media import engine
from tests.factories import AccountFactory
from tests.helpers import ApiClient
from tests.sse import ledger_verified

START = 1_000_000


@pytest.fixture(autouse=True)
def demo(transactional_db: None, settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    catalog_import(data=json.loads(Path("catalog/demo_catalog.json").read_text()))


def fetched(api: ApiClient, url: str) -> bytes:
    resp = api.client.get("/" + url.split("://", 1)[1].split("/", 1)[1])
    assert resp.status_code == 200
    return b"".join(resp.streaming_content) if resp.streaming else resp.content


def task_done(api: ApiClient, account: Any, task_id: str) -> dict[str, Any]:
    """The task after two sweeps of the poller (running at the first, done at the second)."""
    states = []
    for minutes in (2, 4):
        engine.tasks_poll_due(now=timezone.now() + dt.timedelta(minutes=minutes))
        states.append(api.get(f"/v1/tasks/{task_id}", account=account).json()["status"])
    assert states == ["running", "succeeded"]
    return api.get(f"/v1/tasks/{task_id}", account=account).json()


def test_sandbox_images_are_pngs_behind_the_gateways_links(
    api: ApiClient, make_account: AccountFactory
) -> None:
    account = make_account(START)
    resp = api.post(
        "/v1/images/generations",
        {"model": "sandbox/image", "prompt": "a lighthouse", "n": 2, "size": "32x32"},
        account=account,
    )
    assert resp.status_code == 200
    body = resp.json()
    assert (body["status"], body["model"], body["usage"]["cost"]) == (
        "succeeded",
        "sandbox/image",
        0,
    )
    files = [fetched(api, item["url"]) for item in body["data"]]
    assert [f[:8] for f in files] == [b"\x89PNG\r\n\x1a\n"] * 2
    assert files[0] != files[1]
    assert account.balance() == START
    ledger_verified(account)


def test_sandbox_music_and_video_finish_at_the_second_sweep(
    api: ApiClient, make_account: AccountFactory
) -> None:
    account = make_account(START)
    music = api.post(
        "/v1/music/generations",
        {"model": "sandbox/music", "prompt": "a calm tune", "duration": 3},
        account=account,
    ).json()
    video = api.post(
        "/v1/videos", {"model": "sandbox/video", "prompt": "waves", "duration": 4}, account=account
    ).json()
    assert (music["status"], video["status"]) == ("pending", "pending")
    song = task_done(api, account, music["task_id"])
    (track,) = song["output"]
    assert track["content_type"] == "audio/wav"
    with wave.open(io.BytesIO(fetched(api, track["url"]))) as w:
        assert (w.getframerate(), w.getnframes()) == (8000, 3 * 8000)
    clip = api.get(f"/v1/tasks/{video['task_id']}", account=account).json()
    assert clip["status"] == "succeeded"  # swept alongside the music
    (movie,) = clip["output"]
    assert movie["content_type"] == "video/mp4"
    assert fetched(api, movie["url"])[4:8] == b"ftyp"
    assert (song["cost"], clip["cost"]) == (0, 0)
    assert account.balance() == START
    ledger_verified(account)
