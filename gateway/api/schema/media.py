"""Operation schemas of the media endpoints: ``/v1/images/generations``, ``/v1/videos``,
``/v1/music/generations`` (gateway/media/validation.py), ``/v1/tasks/{task_id}`` and its
``/cancel`` (answers from gateway/media/serialize.py)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema

from gateway.api.schema.parts import (
    BILLED,
    IDEMPOTENCY_KEY,
    INT,
    JSON_PARSERS,
    KEYED,
    STR,
    Schema,
    array,
    component,
    enum,
    error_set,
    nullable,
    obj,
    ok,
)

STATUS = enum("pending", "running", "succeeded", "failed", "cancelled")
_PROMPT = {"type": "string", "minLength": 1, "maxLength": 32000, "pattern": "\\S"}
_MODEL = {
    "type": "string",
    "minLength": 1,
    "pattern": "^[^\\x00]*$",
    "examples": ["sandbox/image", "sandbox/video", "sandbox/music"],
}
_DIMENSION = nullable({"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9:x._-]{0,31}$"})
_URL = nullable(
    {
        "type": "string",
        "pattern": "^(https?://\\S+|data:(image|video)/[A-Za-z0-9.+-]+;base64,\\S+)$",
    }
)
_COMMON: dict[str, Schema] = {
    "model": _MODEL,
    "prompt": {**_PROMPT, "description": "not blank, no NUL"},
    "max_credits": nullable({"type": "integer", "minimum": 0, "maximum": 2**63 - 1}),
    "callback_url": nullable(
        {"type": "string", "minLength": 1, "description": "a public http(s) URL"}
    ),
}
_SECONDS = {"type": "number", "exclusiveMinimum": 0, "maximum": 3600}

ImageRequest = component(
    "ImageGenerationRequest",
    obj(
        {
            **_COMMON,
            "n": nullable({"type": "integer", "minimum": 1, "maximum": 10}),
            "size": _DIMENSION,
            "quality": enum("auto", "low", "medium", "high", "standard", "hd", null=True),
            "response_format": enum("url", "b64_json", null=True),
        },
        ("model", "prompt"),
    ),
)
VideoRequest = component(
    "VideoRequest",
    obj(
        {
            **_COMMON,
            "duration": {"type": "integer", "minimum": 1, "maximum": 3600},
            "resolution": _DIMENSION,
            "input_mode": enum("text-to-video", "image-to-video", "video-to-video", null=True),
            "image_url": {**_URL, "description": "required for image-to-video"},
            "video_url": {**_URL, "description": "required for video-to-video"},
        },
        ("model", "prompt", "duration"),
        allOf=[
            {
                "if": {
                    "properties": {"input_mode": {"const": "image-to-video"}},
                    "required": ["input_mode"],
                },
                "then": {
                    "required": ["image_url"],
                    "properties": {"image_url": {"type": "string"}},
                },
            },
            {
                "if": {
                    "properties": {"input_mode": {"const": "video-to-video"}},
                    "required": ["input_mode"],
                },
                "then": {
                    "required": ["video_url"],
                    "properties": {"video_url": {"type": "string"}},
                },
            },
        ],
    ),
)
MusicRequest = component(
    "MusicRequest",
    obj({**_COMMON, "duration": nullable(_SECONDS)}, ("model", "prompt")),
)
TaskCreated = component(
    "TaskCreated",
    obj(
        {
            "task_id": STR,
            "id": STR,
            "object": STR,
            "status": STATUS,
            "model": STR,
            "created": nullable(INT),
        },
        ("task_id", "id", "object", "status", "model"),
        extra=False,
    ),
)
ImageResult = component(
    "ImageGeneration",
    obj(
        {
            "created": nullable(INT),
            "data": array(obj({"url": STR, "b64_json": STR}, ("url",))),
            "task_id": STR,
            "provider_task_id": nullable(STR),
            "status": STATUS,
            "model": STR,
            "usage": obj({"images": INT, "cost": nullable(INT)}),
        },
        ("created", "data", "task_id", "status", "model"),
        extra=False,
    ),
    "OpenAI's images shape when done; the pending task (data: []) when asynchronous.",
)
Task = component(
    "Task",
    obj(
        {
            "id": STR,
            "task_id": STR,
            "object": STR,
            "status": STATUS,
            "model": STR,
            "created": nullable(INT),
            "completed": nullable(INT),
            "output": array(obj({"url": STR, "content_type": STR}, ("url", "content_type"))),
            "error": nullable(obj({"code": STR, "message": STR}, ("code", "message"))),
            "cost": nullable({**INT, "description": "null while open"}),
        },
        ("id", "task_id", "object", "status", "model", "output", "error", "cost"),
        extra=False,
    ),
)


def _create(path: str, request: type, answer: type, summary: str, example: dict[str, Any]) -> Any:
    return extend_schema(
        tags=["media"],
        summary=summary,
        parameters=[IDEMPOTENCY_KEY],
        request=request,
        responses={200: ok(answer, "The task"), **error_set(*BILLED)},
        examples=[OpenApiExample(path, value=example, request_only=True)],
    )


def _create_view(target: str, *args: Any) -> type:
    decorate = _create(*args)

    class Schema_(OpenApiViewExtension):
        target_class = target

        def view_replacement(self) -> type:
            class Fixed(self.target_class):  # type: ignore[name-defined,misc]
                parser_classes = JSON_PARSERS

                @decorate
                def post(self, request: Any) -> Any:
                    return super().post(request)

            return Fixed

    return Schema_


ImagesSchema = _create_view(
    "gateway.api.media.ImagesView",
    "image",
    ImageRequest,
    ImageResult,
    "Generate images",
    {"model": "sandbox/image", "prompt": "a red square"},
)
VideosSchema = _create_view(
    "gateway.api.media.VideosView",
    "video",
    VideoRequest,
    TaskCreated,
    "Create a video task",
    {"model": "sandbox/video", "prompt": "waves", "duration": 4},
)
MusicSchema = _create_view(
    "gateway.api.media.MusicView",
    "music",
    MusicRequest,
    TaskCreated,
    "Create a music task",
    {"model": "sandbox/music", "prompt": "calm piano", "duration": 10},
)
TASK_ID = OpenApiParameter(
    "task_id", str, OpenApiParameter.PATH, description="task_ followed by its id"
)


class TaskSchema(OpenApiViewExtension):
    target_class = "gateway.api.media.TaskView"

    def view_replacement(self) -> type:
        class Fixed(self.target_class):  # type: ignore[name-defined,misc]
            @extend_schema(
                tags=["media"],
                summary="A task (read from the gateway, never the provider)",
                parameters=[TASK_ID],
                responses={200: ok(Task, "The task"), **error_set(404, *KEYED)},
            )
            def get(self, request: Any, task_id: str) -> Any:
                return super().get(request, task_id)

        return Fixed


class TaskCancelSchema(OpenApiViewExtension):
    target_class = "gateway.api.media.TaskCancelView"

    def view_replacement(self) -> type:
        class Fixed(self.target_class):  # type: ignore[name-defined,misc]
            @extend_schema(
                tags=["media"],
                summary="Cancel an open task (its hold released)",
                parameters=[TASK_ID],
                request=None,
                responses={
                    200: ok(Task, "The cancelled task"),
                    **error_set(404, 409, 411, 413, *KEYED),
                },
            )
            def post(self, request: Any, task_id: str) -> Any:
                return super().post(request, task_id)

        return Fixed
