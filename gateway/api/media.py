"""The media endpoints: ``POST /v1/images/generations``, ``/v1/videos`` and
``/v1/music/generations`` create a task (``gateway.media.engine.task_create``: estimate,
``max_credits``, hold, submit), ``GET /v1/tasks/{id}`` reads one from the database (never
the provider) and ``POST /v1/tasks/{id}/cancel`` cancels an open one with a refund.

A body is checked whole before anything is resolved or held (``gateway.media.validation``);
a 4xx before a hold (a bad body, ``max_credits_exceeded``, not enough credits, a model the
key may not use) is kept in the owner's request log as a refusal, as on the chat surfaces.
A task is its owner's: another user's task, or an unknown id, is 404 ``task_not_found``.
Cancelling a cancelled task answers it again; one that succeeded or failed is 409
``task_not_cancellable``, its status in the message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.http import HttpResponse
from rest_framework.request import Request

from accounts.services import apikey_touch
from config.errors import ApiError
from gateway.api.base import GatewayView, RecordsRefusals, json_response
from gateway.api.request_body import json_body
from gateway.media import engine
from gateway.media.models import MediaTask
from gateway.media.serialize import image_body, task_body, task_created_body
from gateway.media.validation import MediaBody, image_validate, music_validate, video_validate

# "task_" and URL-safe characters: anything else names no task and is not looked up
_TASK_ID = re.compile(r"task_[A-Za-z0-9_-]{1,43}", re.ASCII)


def request_origin(request: Request) -> str:
    """Scheme and host the client called (``https://gw.example``): where its links point.
    The host was checked against ``ALLOWED_HOSTS`` by the API's middleware."""
    return request.build_absolute_uri("/").rstrip("/")


class MediaCreateView(RecordsRefusals):
    """One task-creating endpoint: the key read from the database and counted against its
    rate limit (``GatewayView``), its refusals recorded as a billed surface's."""

    kind = ""
    idempotent = True  # Idempotency-Key claimed after authentication (gateway.idempotency)
    validate: Callable[[Any], MediaBody]

    def perform_authentication(self, request: Request) -> None:
        super().perform_authentication(request)
        apikey_touch(api_key=request.auth)

    def post(self, request: Request) -> HttpResponse:
        caller = self.caller(request)
        body = self.validate(json_body(request))
        origin = request_origin(request)
        task = engine.task_create(
            caller,
            engine.TaskRequest(
                kind=self.kind,
                model=body.model,
                params=body.params,
                max_credits=body.max_credits,
                callback_url=body.callback_url,
                origin=origin,
            ),
        )
        return json_response(self.render_task(task, body, origin), headers=caller.headers)

    def render_task(self, task: MediaTask, body: MediaBody, origin: str) -> dict[str, Any]:
        return task_created_body(task)


class ImagesView(MediaCreateView):
    """OpenAI's images shape when the provider answers at once (the SDK's
    ``images.generate``), the pending task when it works asynchronously."""

    surface_name = "images"
    kind = "image"
    validate = staticmethod(image_validate)

    def render_task(self, task: MediaTask, body: MediaBody, origin: str) -> dict[str, Any]:
        return image_body(task, origin, response_format=body.response_format)


class VideosView(MediaCreateView):
    surface_name = "videos"
    kind = "video"
    validate = staticmethod(video_validate)


class MusicView(MediaCreateView):
    surface_name = "music"
    kind = "music"
    validate = staticmethod(music_validate)


def task_of(user_id: int, task_id: str) -> MediaTask:
    """The user's task with this public id (its files with it), else 404 ``task_not_found``."""
    task = None
    if _TASK_ID.fullmatch(task_id):
        task = (
            MediaTask.objects.filter(public_id=task_id, user_id=user_id)
            .prefetch_related("files")
            .first()
        )
    if task is None:
        raise ApiError(404, "task_not_found", f"No task {task_id}", param="id")
    return task


class TaskView(GatewayView):
    """``GET /v1/tasks/{id}``: the task as its row says; the pollers keep it current."""

    def get(self, request: Request, task_id: str) -> HttpResponse:
        task = task_of(request.auth.user_id, task_id)
        return json_response(task_body(task, request_origin(request)))


class TaskCancelView(GatewayView):
    """``POST /v1/tasks/{id}/cancel``: a pending or running task ends cancelled and its
    hold is released; the provider is asked to stop (best effort)."""

    def post(self, request: Request, task_id: str) -> HttpResponse:
        task = task_of(request.auth.user_id, task_id)
        if task.is_open:
            task = engine.task_cancel(task)
        if task.status != MediaTask.Status.CANCELLED:
            raise ApiError(
                409,
                "task_not_cancellable",
                f"Task {task.public_id} already {task.status}; only a pending or running "
                "task can be cancelled",
                param="id",
            )
        task = task_of(request.auth.user_id, task_id)  # as the cancel left it
        return json_response(task_body(task, request_origin(request)))
