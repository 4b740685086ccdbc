"""Finished tasks as the console shows them: a succeeded image task with two stored images,
its request-log row and a callback delivered on its second attempt; a failed video task
whose callback was given up after timeouts and a redirect."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from accounts.models import User
from gateway.media.models import Callback, CallbackAttempt, MediaTask
from gateway.media.storage import outputs_store
from gateway.models import Generation
from gateway.providers.dialect import MediaOutput
from tests.media_delivery.rows import output_open, task_make
from tests.media_delivery.servers import png_make
from tests.usage.page_rows import generation_at

CREATED = dt.datetime(2026, 12, 1, 22, 30, 5, tzinfo=dt.UTC)


@dataclass
class Scene:
    image_task: MediaTask
    video_task: MediaTask
    generation: Generation


def _attempts(callback: Callback, rows: list[tuple[int | None, str, int]]) -> None:
    for number, (status, error, ms) in enumerate(rows, start=1):
        attempt = CallbackAttempt.objects.create(
            callback=callback,
            number=number,
            timestamp=int(CREATED.timestamp()) + 60 * number,
            status_code=status,
            error=error,
            duration_ms=ms,
        )
        CallbackAttempt.objects.filter(pk=attempt.pk).update(
            created_at=CREATED + dt.timedelta(minutes=number)
        )


def scene_make(user: User) -> Scene:
    image = task_make(
        user,
        model="acme/painter-2",
        provider="acme",
        upstream_model="painter-2-hd",
        params={"prompt": "A lighthouse at dusk, in watercolour", "n": 2},
        estimate=84_000,
        callback_url="https://hooks.example.com/gateway/tasks?tenant=7",
    )
    outputs_store(
        image,
        [MediaOutput(data=png_make(64, 64, (29, 78, 216))), MediaOutput(data=png_make(64, 48))],
        output_open,
    )
    MediaTask.objects.filter(pk=image.pk).update(
        status=MediaTask.Status.SUCCEEDED,
        cost=80_000,
        created_at=CREATED,
        completed_at=CREATED + dt.timedelta(seconds=14),
    )
    generation = generation_at(
        user,
        CREATED + dt.timedelta(seconds=14),
        request_id=image.request_id,
        model=image.model,
        surface="images",
        prompt_tokens=0,
        completion_tokens=0,
        cost=80_000,
    )
    callback = Callback.objects.create(
        task=image,
        url=image.callback_url,
        event="gateway.task.completed",
        body="{}",
        state=Callback.State.DELIVERED,
        attempts=2,
    )
    _attempts(callback, [(503, "HTTP 503", 41), (200, "", 18)])

    video = task_make(
        user,
        kind=MediaTask.Kind.VIDEO,
        model="acme/motion",
        provider="acme",
        params={"prompt": "Waves", "duration": 4},
        estimate=400_000,
        error_code="provider_failed",
        error_message="The provider could not render this prompt",
        callback_url="https://hooks.example.com/a/very/long/path/that/goes/on/and/on/for/"
        "the/narrow/screen/checks/callback?signature=abcdefghijklmnopqrstuvwxyz0123456789",
    )
    MediaTask.objects.filter(pk=video.pk).update(
        status=MediaTask.Status.FAILED, created_at=CREATED, completed_at=timezone.now()
    )
    failed = Callback.objects.create(
        task=video,
        url=video.callback_url,
        event="gateway.task.failed",
        body="{}",
        state=Callback.State.FAILED,
        attempts=3,
    )
    _attempts(
        failed,
        [
            (None, "timed out after 10 s", 10_002),
            (302, "HTTP 302 (redirects are not followed)", 35),
            (None, "ConnectFailed: [Errno 111] Connection refused", 2),
        ],
    )
    image.refresh_from_db()
    video.refresh_from_db()
    return Scene(image_task=image, video_task=video, generation=generation)
