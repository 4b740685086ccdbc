"""The task and image answers, built from task rows: every field of the documented shapes,
with the gateway's own links."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from gateway.media.models import MediaFile, MediaTask
from gateway.media.serialize import image_body, task_body, task_created_body
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db
ORIGIN = "https://gw.example"


def _task(user_id: int, **fields: object) -> MediaTask:
    defaults: dict[str, object] = {
        "public_id": "task_" + "a" * 32,
        "request_id": "gen-1",
        "kind": "video",
        "model": "vid/one",
        "deadline_at": timezone.now() + dt.timedelta(hours=1),
    }
    defaults.update(fields)
    return MediaTask.objects.create(user_id=user_id, **defaults)


def test_an_open_task_has_no_output_error_or_cost(make_account: AccountFactory) -> None:
    task = _task(make_account().user.pk)
    body = task_body(task, ORIGIN)
    assert body == {
        "id": task.public_id,
        "task_id": task.public_id,
        "object": "gateway.video.task",
        "status": "pending",
        "model": "vid/one",
        "created": int(task.created_at.timestamp()),
        "completed": None,
        "output": [],
        "error": None,
        "cost": None,
    }
    assert task_created_body(task) == {
        "task_id": task.public_id,
        "id": task.public_id,
        "object": "gateway.video.task",
        "status": "pending",
        "model": "vid/one",
        "created": int(task.created_at.timestamp()),
    }


def test_a_finished_task_links_its_files_in_order(make_account: AccountFactory) -> None:
    done = timezone.now()
    task = _task(
        make_account().user.pk, kind="music", status="succeeded", cost=4_200, completed_at=done
    )
    MediaFile.objects.create(token="tok-b", task=task, index=1, name="b", content_type="audio/wav")
    MediaFile.objects.create(token="tok-a", task=task, index=0, name="a", content_type="audio/wav")
    body = task_body(task, ORIGIN + "/")
    assert body["object"] == "gateway.music.task"
    assert body["output"] == [
        {"url": "https://gw.example/v1/files/tok-a", "content_type": "audio/wav"},
        {"url": "https://gw.example/v1/files/tok-b", "content_type": "audio/wav"},
    ]
    assert (body["status"], body["cost"], body["error"]) == ("succeeded", 4_200, None)
    assert body["completed"] == int(done.timestamp())


def test_failed_and_cancelled_tasks_say_why_and_cost_nothing(
    make_account: AccountFactory,
) -> None:
    user_id = make_account().user.pk
    failed = _task(user_id, status="failed", error_code="timeout", error_message="Took too long")
    cancelled = _task(user_id, public_id="task_c", request_id="gen-2", status="cancelled")
    assert task_body(failed, ORIGIN)["error"] == {"code": "timeout", "message": "Took too long"}
    assert task_body(failed, ORIGIN)["cost"] == 0
    assert task_body(cancelled, ORIGIN)["error"] == {
        "code": "cancelled",
        "message": "The task was cancelled",
    }
    assert task_body(cancelled, ORIGIN)["cost"] == 0


def test_image_body_is_openais_shape_when_done_and_the_task_when_pending(
    make_account: AccountFactory, tmp_path: Path, settings: Any
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)  # the storage's files in this test's own folder
    user_id = make_account().user.pk
    pending = _task(user_id, kind="image", provider_task_id="pred-9")
    assert image_body(pending, ORIGIN) == {
        "created": int(pending.created_at.timestamp()),
        "data": [],
        "task_id": pending.public_id,
        "provider_task_id": "pred-9",
        "status": "pending",
        "model": "vid/one",
    }
    done = _task(
        user_id, public_id="task_d", request_id="gen-3", kind="image", status="succeeded", cost=80
    )
    name = default_storage.save("media/test/serialize-0.png", ContentFile(b"\x89PNG-bytes"))
    MediaFile.objects.create(token="tok-i", task=done, index=0, name=name, content_type="image/png")
    assert name.startswith("media/test/")
    assert (tmp_path / name).is_file()
    assert image_body(done, ORIGIN) == {
        "created": int(done.created_at.timestamp()),
        "data": [{"url": "https://gw.example/v1/files/tok-i"}],
        "task_id": "task_d",
        "status": "succeeded",
        "model": "vid/one",
        "usage": {"images": 1, "cost": 80},
    }
    b64 = image_body(done, ORIGIN, response_format="b64_json")["data"][0]
    assert b64 == {"url": "https://gw.example/v1/files/tok-i", "b64_json": "iVBORy1ieXRlcw=="}
