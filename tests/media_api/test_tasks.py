"""The task endpoints end to end through the API and the fake media upstream: each kind
created, polled by the sweep, charged exactly once and linked through the gateway; the task
read back (never from the provider), cancelled with a refund, hidden from other users."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
from django.utils import timezone

from billing.models import Hold, LedgerEntry
from gateway.media import engine
from gateway.media.models import MediaTask
from gateway.models import Generation
from tests.factories import Account, AccountFactory
from tests.fakes.media import FakeMedia
from tests.helpers import ApiClient
from tests.media_api.conftest import AUDIO_SECOND, IMAGE, REQUEST, START, VIDEO_SECOND

pytestmark = [pytest.mark.usefixtures("transactional_db", "media_models")]


_sweeps = itertools.count(1)


def sweep() -> engine.PollReport:
    """One sweep of the pollers, as the beat runs it, each two minutes after the one
    before (every open task is due by then, backoff included; none reaches its deadline
    in a test)."""
    later = dt.timedelta(seconds=120 * next(_sweeps))
    return engine.tasks_poll_due(now=timezone.now() + later)


def charged_once(task_id: str, cost: int) -> MediaTask:
    task = MediaTask.objects.get(public_id=task_id)
    assert (task.status, task.cost) == ("succeeded", cost)
    usage = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.USAGE, reference=task.request_id)
    assert [e.amount for e in usage] == [-cost]
    assert not Hold.objects.filter(pk=task.hold_id).exists()
    return task


def credits_of(api: ApiClient, account: Account) -> dict[str, Any]:
    return api.get("/v1/credits", account=account).json()["data"]


def fetched(api: ApiClient, url: str) -> Any:
    path = url.split("://", 1)[1].split("/", 1)[1]
    resp = api.client.get("/" + path)
    assert resp.status_code == 200
    return resp


def test_a_video_is_pending_then_succeeds_after_the_poller_runs(
    api: ApiClient, make_account: AccountFactory, media_upstream: FakeMedia
) -> None:
    account = make_account(START)
    # when a 4-second video is asked for
    resp = api.post(
        "/v1/videos", {"model": "acme/vid", "prompt": "waves", "duration": 4}, account=account
    )
    # then the task is answered at once, pending, holding 4 x 100,000 credits
    assert resp.status_code == 200
    created = resp.json()
    task_id = created["task_id"]
    assert created == {
        "task_id": task_id,
        "id": task_id,
        "object": "gateway.video.task",
        "status": "pending",
        "model": "acme/vid",
        "created": created["created"],
    }
    assert task_id.startswith("task_")
    assert (media_upstream.created, account.held()) == (1, 4 * VIDEO_SECOND)
    # reading it asks the provider nothing
    polls = media_upstream.polls
    body = api.get(f"/v1/tasks/{task_id}", account=account).json()
    assert (body["status"], body["output"], body["error"], body["cost"]) == (
        "pending",
        [],
        None,
        None,
    )
    assert body["completed"] is None
    assert media_upstream.polls == polls
    # the first sweep finds it running, the second done
    assert sweep().claimed == 1
    assert api.get(f"/v1/tasks/{task_id}", account=account).json()["status"] == "running"
    sweep()
    body = api.get(f"/v1/tasks/{task_id}", account=account).json()
    assert media_upstream.polls == polls + 2
    cost = 4 * VIDEO_SECOND
    charged_once(task_id, cost)
    assert (body["status"], body["cost"], body["error"]) == ("succeeded", cost, None)
    assert body["completed"] >= body["created"]
    [output] = body["output"]
    assert output["content_type"] == "video/mp4"
    assert output["url"].startswith("http://testserver/v1/files/")
    # the link is the gateway's, serving the provider's bytes
    video = fetched(api, output["url"])
    assert video["Content-Type"] == "video/mp4"
    assert b"ftyp" in b"".join(video.streaming_content)[:16]
    # the charge is exact in /v1/credits and nothing is left held
    assert credits_of(api, account)["balance"] == START - cost
    assert credits_of(api, account)["held"] == 0
    generation = Generation.objects.get(
        request_id=MediaTask.objects.get(public_id=task_id).request_id
    )
    assert (generation.surface, generation.cost, generation.status) == ("videos", cost, "success")


def test_music_on_replicate_is_charged_per_second(
    api: ApiClient, make_account: AccountFactory, media_upstream: FakeMedia
) -> None:
    account = make_account(START)
    body = {"model": "acme/song", "prompt": "lo-fi", "duration": 12}
    created = api.post("/api/v1/music/generations", body, account=account).json()
    assert (created["object"], created["status"]) == ("gateway.music.task", "pending")
    assert account.held() == 12 * AUDIO_SECOND
    sweep()
    task = api.get(f"/api/v1/tasks/{created['id']}", account=account).json()
    assert 12 * AUDIO_SECOND == 30_000
    assert (task["status"], task["cost"]) == ("succeeded", 30_000)
    assert [o["content_type"] for o in task["output"]] == ["audio/wav"]
    assert fetched(api, task["output"][0]["url"])["Content-Type"] == "audio/wav"
    charged_once(created["id"], 30_000)
    assert account.balance() == START - 30_000


def test_async_images_answer_the_pending_task_then_their_links(
    api: ApiClient, make_account: AccountFactory, media_upstream: FakeMedia
) -> None:
    account = make_account(START)
    resp = api.post(
        "/v1/images/generations", {"model": "acme/rpic", "prompt": "a fox", "n": 3}, account=account
    )
    assert resp.status_code == 200
    pending = resp.json()
    assert pending == {
        "created": pending["created"],
        "data": [],
        "task_id": pending["task_id"],
        "provider_task_id": pending["provider_task_id"],
        "status": "pending",
        "model": "acme/rpic",
    }
    assert pending["provider_task_id"]
    sweep()
    task = api.get(f"/v1/tasks/{pending['task_id']}", account=account).json()
    assert task["object"] == "gateway.image.task"
    assert [o["content_type"] for o in task["output"]] == ["image/png"] * 3
    assert len({o["url"] for o in task["output"]}) == 3
    charged_once(pending["task_id"], 3 * IMAGE + REQUEST)
    assert account.balance() == START - 121_000


def test_cancel_refunds_an_open_task_and_refuses_a_finished_one(
    api: ApiClient, make_account: AccountFactory, media_upstream: FakeMedia
) -> None:
    account = make_account(START)
    body = {"model": "acme/song-never", "prompt": "p", "duration": 8}
    task_id = api.post("/v1/music/generations", body, account=account).json()["id"]
    sweep()  # the provider (Replicate) says it is running
    assert api.get(f"/v1/tasks/{task_id}", account=account).json()["status"] == "running"
    assert account.held() == 8 * AUDIO_SECOND
    # when it is cancelled
    resp = api.post(f"/v1/tasks/{task_id}/cancel", account=account)
    # then it is cancelled, the prediction cancelled, the hold released and nothing charged
    assert resp.status_code == 200
    task = resp.json()
    assert (task["status"], task["cost"]) == ("cancelled", 0)
    assert task["error"] == {"code": "cancelled", "message": "The task was cancelled"}
    assert media_upstream.cancels == 1
    assert (account.balance(), account.held()) == (START, 0)
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.USAGE).exists()
    # cancelling it again answers the same and releases nothing twice
    again = api.post(f"/v1/tasks/{task_id}/cancel", account=account)
    assert (again.status_code, again.json()["status"]) == (200, "cancelled")
    assert (account.balance(), account.held(), media_upstream.cancels) == (START, 0, 1)
    # the poller leaves it alone
    polls = media_upstream.polls
    assert sweep().claimed == 0
    assert media_upstream.polls == polls
    # a task that succeeded is not cancellable, and stays charged
    done = api.post("/v1/images/generations", {"model": "acme/pic", "prompt": "p"}, account=account)
    done_id = done.json()["task_id"]
    refused = api.post(f"/v1/tasks/{done_id}/cancel", account=account)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "task_not_cancellable"
    assert "succeeded" in refused.json()["error"]["message"]
    assert account.balance() == START - (IMAGE + REQUEST)


def test_a_failed_task_is_refunded_and_says_why(
    api: ApiClient, make_account: AccountFactory, media_upstream: FakeMedia
) -> None:
    account = make_account(START)
    task_id = api.post(
        "/v1/videos", {"model": "acme/vid-fail", "prompt": "p", "duration": 3}, account=account
    ).json()["id"]
    sweep()
    task = api.get(f"/v1/tasks/{task_id}", account=account).json()
    assert (task["status"], task["cost"], task["output"]) == ("failed", 0, [])
    assert task["error"]["code"] == "fake_failure"
    assert (account.balance(), account.held()) == (START, 0)


def test_a_refusal_at_submission_is_the_providers_error_and_refunded(
    api: ApiClient, make_account: AccountFactory, media_upstream: FakeMedia
) -> None:
    account = make_account(START)
    resp = api.post(
        "/v1/videos", {"model": "acme/vid-refused", "prompt": "p", "duration": 3}, account=account
    )
    assert 400 <= resp.status_code < 600 and resp.status_code != 500
    assert set(resp.json()["error"]) == {"message", "type", "code", "param"}
    assert (account.balance(), account.held()) == (START, 0)
    assert MediaTask.objects.get().status == "failed"


def test_another_users_task_is_not_found(
    api: ApiClient, make_account: AccountFactory, media_upstream: FakeMedia
) -> None:
    owner, other = make_account(START), make_account(START)
    body = {"model": "acme/vid-never", "prompt": "p", "duration": 2}
    task_id = api.post("/v1/videos", body, account=owner).json()["id"]
    for resp in (
        api.get(f"/v1/tasks/{task_id}", account=other),
        api.post(f"/v1/tasks/{task_id}/cancel", account=other),
        api.get("/v1/tasks/task_unknown", account=owner),
        api.get("/v1/tasks/gen-123", account=owner),
        api.get("/v1/tasks/task_%00x", account=owner),
        api.get("/api/v1/tasks/" + "task_" + "a" * 80, account=owner),
    ):
        assert resp.status_code == 404
        assert resp.json()["error"]["code"] == "task_not_found"
    # the owner's task is untouched: still open and held
    assert MediaTask.objects.get(public_id=task_id).status == "pending"
    assert owner.held() == 2 * VIDEO_SECOND
    # and a key is needed at all
    assert api.get(f"/v1/tasks/{task_id}").status_code == 401


def test_max_credits_below_the_estimate_creates_nothing(
    api: ApiClient, make_account: AccountFactory, media_upstream: FakeMedia
) -> None:
    account = make_account(START)
    cases = [
        ("/v1/videos", {"model": "acme/vid", "prompt": "p", "duration": 4, "max_credits": 399_999}),
        (
            "/v1/images/generations",
            {"model": "acme/pic", "prompt": "p", "n": 2, "max_credits": 80_000},
        ),
        ("/api/v1/music/generations", {"model": "acme/song", "prompt": "p", "max_credits": 100}),
    ]
    for path, body in cases:
        resp = api.post(path, body, account=account)
        assert resp.status_code == 402
        error = resp.json()["error"]
        assert (error["code"], error["param"]) == ("max_credits_exceeded", "max_credits")
    assert media_upstream.created == 0
    assert (account.balance(), account.held()) == (START, 0)
    assert not MediaTask.objects.exists() and not Hold.objects.exists()
    # each refusal is in the owner's request log, at no cost
    refused = Generation.objects.filter(user=account.user, status="refused")
    assert sorted(g.error_code for g in refused) == ["max_credits_exceeded"] * 3
    assert sorted(g.surface for g in refused) == ["images", "music", "videos"]
    # a budget of exactly the estimate is enough
    ok = {"model": "acme/vid", "prompt": "p", "duration": 4, "max_credits": 400_000}
    assert api.post("/v1/videos", ok, account=account).status_code == 200
    assert media_upstream.created == 1


def test_insufficient_credits_creates_nothing_upstream(
    api: ApiClient, make_account: AccountFactory, media_upstream: FakeMedia
) -> None:
    account = make_account(300_000)
    resp = api.post(
        "/v1/videos", {"model": "acme/vid", "prompt": "p", "duration": 4}, account=account
    )
    assert resp.status_code == 402
    assert resp.json()["error"]["code"] == "insufficient_credits"
    resp = api.post(
        "/v1/images/generations", {"model": "acme/pic", "prompt": "p", "n": 8}, account=account
    )
    assert (resp.status_code, resp.json()["error"]["code"]) == (402, "insufficient_credits")
    assert media_upstream.created == 0
    assert (account.balance(), account.held()) == (300_000, 0)
    assert not MediaTask.objects.exists()


def test_a_model_without_the_kinds_output_is_refused(
    api: ApiClient, make_account: AccountFactory, media_upstream: FakeMedia
) -> None:
    account = make_account(START)
    resp = api.post(
        "/v1/videos", {"model": "acme/pic", "prompt": "p", "duration": 4}, account=account
    )
    assert resp.status_code == 400
    assert (resp.json()["error"]["code"], resp.json()["error"]["param"]) == (
        "invalid_parameter",
        "model",
    )
    resp = api.post(
        "/v1/images/generations", {"model": "nope/none", "prompt": "p"}, account=account
    )
    assert resp.status_code == 404
    assert media_upstream.created == 0 and account.balance() == START
