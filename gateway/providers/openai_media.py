"""The ``openai`` dialect's media: images and videos (``gateway.providers.openai`` calls
these).

- images, synchronous: ``POST {base}/images/generations`` (``model``, ``prompt``, ``n``,
  and ``size`` and ``quality`` when given); each result is a ``url`` (fetched later) or a
  ``b64_json`` (decoded now). Usage: the images returned, and the tokens when the answer
  reports them (gpt-image models; billed only where the model prices tokens).
- videos, asynchronous: ``POST {base}/videos`` (``model``, ``prompt``, ``seconds`` as a
  string, ``size``), polled with ``GET {base}/videos/{id}`` (``queued`` pending,
  ``in_progress`` running, ``completed`` done, ``failed`` failed with its ``error``); the
  one output is ``GET {base}/videos/{id}/content``, fetched with the provider's key
  (an authenticated ``MediaOutput``, video/mp4). Usage: the video's ``seconds``.

OpenAI has no music; a video from an image (``image_url``) is refused as unsupported (its
API takes the image as an uploaded file, not a link).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from billing.pricing import Usage
from catalog.selectors import RouteInfo
from gateway.providers.base import ProviderError, api_key_for
from gateway.providers.dialect import (
    MediaOutput,
    MediaResult,
    OperationUnsupported,
    TaskPoll,
    UpstreamTask,
)
from gateway.providers.media_common import failure_text, seconds_of, task_usage
from gateway.providers.media_http import request_json

DIALECT = "openai"
# what a video's status is in a task's terms (anything else: still running)
VIDEO_STATES = {"queued": "pending", "in_progress": "running"}


def _auth(route: RouteInfo) -> tuple[dict[str, str], str]:
    key = api_key_for(route)
    return ({"Authorization": f"Bearer {key}"} if key else {}), key


def _given(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def image(route: RouteInfo, body: dict[str, Any]) -> MediaResult:
    """Generate images now; the answer's ``b64_json`` data is decoded into the outputs and
    left out of ``native``."""
    payload = _given(
        model=route.upstream_model,
        prompt=body.get("prompt"),
        n=body.get("n"),
        size=body.get("size"),
        quality=body.get("quality"),
    )
    headers, key = _auth(route)
    data = request_json(
        "POST", f"{route.base_url}/images/generations", payload, headers=headers, secret=key
    )
    items = data.get("data")
    if not isinstance(items, list) or not items:
        raise ProviderError("Upstream sent no images", retryable=True)
    fmt = data.get("output_format")
    inline_type = f"image/{fmt}" if isinstance(fmt, str) and fmt.isalpha() else ""
    outputs = tuple(_image_output(item, inline_type) for item in items)
    native = {**data, "data": [{k: v for k, v in i.items() if k != "b64_json"} for i in items]}
    return MediaResult(outputs=outputs, usage=_image_usage(data, len(outputs)), native=native)


def _image_output(item: Any, inline_type: str) -> MediaOutput:
    if isinstance(item, dict) and isinstance(item.get("b64_json"), str):
        try:
            content = base64.b64decode(item["b64_json"], validate=True)
        except (binascii.Error, ValueError) as exc:
            message = "Upstream sent an image that is not base64"
            raise ProviderError(message, retryable=True) from exc
        return MediaOutput(data=content, content_type=inline_type)
    if isinstance(item, dict) and isinstance(item.get("url"), str) and item["url"]:
        return MediaOutput(url=item["url"])
    raise ProviderError("Upstream sent an image with neither url nor b64_json", retryable=True)


def _image_usage(data: dict[str, Any], images: int) -> Usage:
    raw = data.get("usage")
    if not isinstance(raw, dict):
        return Usage(images=images)
    details = raw.get("input_tokens_details")
    try:
        return Usage(
            images=images,
            prompt_tokens=int(raw.get("input_tokens") or 0),
            completion_tokens=int(raw.get("output_tokens") or 0),
            cached_tokens=int((details or {}).get("cached_tokens") or 0)
            if isinstance(details, dict)
            else 0,
        )
    except (TypeError, ValueError):
        return Usage(images=images)


def _seconds_text(duration: Any) -> str | None:
    seconds = seconds_of(duration)
    if seconds is None:
        return None
    return str(int(seconds)) if seconds == seconds.to_integral_value() else str(seconds)


def video_submit(route: RouteInfo, body: dict[str, Any]) -> UpstreamTask:
    """Start a video (the only task kind OpenAI offers)."""
    kind = body.get("kind")
    if kind != "video":
        raise OperationUnsupported(DIALECT, f"{kind} tasks")
    if body.get("image_url"):
        raise OperationUnsupported(DIALECT, "videos from an image link")
    if body.get("video_url"):
        raise OperationUnsupported(DIALECT, "videos from a video link")
    seconds = _seconds_text(body.get("duration"))
    payload = _given(
        model=route.upstream_model,
        prompt=body.get("prompt"),
        seconds=seconds,
        size=body.get("size") or body.get("resolution"),
    )
    headers, key = _auth(route)
    data = request_json(
        "POST", f"{route.base_url}/videos", payload, headers=headers, secret=key, require="id"
    )
    return UpstreamTask(upstream_id=str(data["id"]), data={"kind": "video", "seconds": seconds})


def video_poll(route: RouteInfo, task: UpstreamTask) -> TaskPoll:
    """The video's state; once completed, its content as an authenticated output."""
    headers, key = _auth(route)
    url = f"{route.base_url}/videos/{task.upstream_id}"
    data = request_json("GET", url, None, headers=headers, secret=key, require="status")
    status = str(data["status"])
    if status == "completed":
        output = MediaOutput(url=url + "/content", content_type="video/mp4", authenticated=True)
        seconds = data.get("seconds") if seconds_of(data.get("seconds")) is not None else None
        usage = task_usage("video", 1, seconds if seconds is not None else task.data.get("seconds"))
        return TaskPoll(state="succeeded", outputs=(output,), usage=usage)
    if status == "failed":
        err = data.get("error") if isinstance(data.get("error"), dict) else {}
        code = err.get("code") if isinstance(err.get("code"), str) and err.get("code") else ""
        error = failure_text(err.get("message"), key, "The provider reported a failure")
        return TaskPoll(state="failed", error=error, error_code=code[:64] or "provider_error")
    return TaskPoll(state=VIDEO_STATES.get(status, "running"))  # type: ignore[arg-type]
