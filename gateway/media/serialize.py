"""What the API (and a callback) says of a media task.

- ``task_body``: ``GET /v1/tasks/{id}`` and every callback's body: ``{"id", "task_id",
  "object", "status", "model", "created", "completed", "output": [{"url", "content_type"}],
  "error": {"code", "message"} | null, "cost"}``; ``cost`` is null while the task is open,
  then the credits it was charged (0 when it failed or was cancelled: the hold was
  released).
- ``image_body``: ``POST /v1/images/generations``'s answer, OpenAI's images shape
  (``{"created", "data": [{"url"}]}``) plus ``task_id``, ``status``, ``model`` and
  ``usage.cost`` when the images are done; the pending task (``data: []``,
  ``provider_task_id``) when the provider works asynchronously.
- ``task_created_body``: ``POST /v1/videos`` and ``/v1/music/generations``.

Every output link is the gateway's own: ``origin + "/v1/files/" + MediaFile.token``.
Times are Unix seconds.
"""

from __future__ import annotations

import base64
from typing import Any

from django.core.files.storage import default_storage

from gateway.media.models import MediaFile, MediaTask

FILES_PATH = "/v1/files/"
_DEFAULT_ERRORS = {
    MediaTask.Status.CANCELLED: ("cancelled", "The task was cancelled"),
    MediaTask.Status.FAILED: ("task_failed", "The task failed"),
}


def task_object(task: MediaTask) -> str:
    """``gateway.image.task``, ``gateway.video.task`` or ``gateway.music.task``."""
    return f"gateway.{task.kind}.task"


def file_url(origin: str, token: str) -> str:
    return origin.rstrip("/") + FILES_PATH + token


def _unix(moment: Any) -> int | None:
    return None if moment is None else int(moment.timestamp())


def task_files(task: MediaTask) -> list[MediaFile]:
    """The task's stored outputs in order (prefetched ones are used as they are)."""
    return sorted(task.files.all(), key=lambda f: f.index)


def _error(task: MediaTask) -> dict[str, str] | None:
    if task.status not in _DEFAULT_ERRORS and not task.error_code:
        return None
    code, message = _DEFAULT_ERRORS.get(task.status, ("", ""))
    return {"code": task.error_code or code, "message": task.error_message or message}


def task_cost(task: MediaTask) -> int | None:
    """Credits charged: null while the task is open, its settled cost once it ended."""
    return None if task.is_open else task.cost


def task_body(task: MediaTask, origin: str) -> dict[str, Any]:
    """The task as ``GET /v1/tasks/{id}`` answers it (and as its callback sends it)."""
    return {
        "id": task.public_id,
        "task_id": task.public_id,
        "object": task_object(task),
        "status": task.status,
        "model": task.model,
        "created": _unix(task.created_at),
        "completed": _unix(task.completed_at),
        "output": [
            {"url": file_url(origin, f.token), "content_type": f.content_type}
            for f in task_files(task)
        ],
        "error": _error(task),
        "cost": task_cost(task),
    }


def task_created_body(task: MediaTask) -> dict[str, Any]:
    """A new video or music task (``id`` equals ``task_id``)."""
    return {
        "task_id": task.public_id,
        "id": task.public_id,
        "object": task_object(task),
        "status": task.status,
        "model": task.model,
        "created": _unix(task.created_at),
    }


def _b64(media: MediaFile) -> str:
    with default_storage.open(media.name, "rb") as handle:
        return base64.b64encode(handle.read()).decode("ascii")


def image_body(task: MediaTask, origin: str, *, response_format: str = "url") -> dict[str, Any]:
    """The answer to ``POST /v1/images/generations``: the finished images in OpenAI's
    shape, or the pending task. With ``response_format: "b64_json"`` each image also
    carries its bytes, read back from storage."""
    created = _unix(task.created_at)
    if task.status != MediaTask.Status.SUCCEEDED:
        return {
            "created": created,
            "data": [],
            "task_id": task.public_id,
            "provider_task_id": task.provider_task_id,
            "status": task.status,
            "model": task.model,
        }
    data: list[dict[str, Any]] = []
    for media in task_files(task):
        item: dict[str, Any] = {"url": file_url(origin, media.token)}
        if response_format == "b64_json":
            item["b64_json"] = _b64(media)
        data.append(item)
    return {
        "created": created,
        "data": data,
        "task_id": task.public_id,
        "status": task.status,
        "model": task.model,
        "usage": {"images": len(data), "cost": task.cost},
    }
