"""The ``replicate`` dialect: Replicate's predictions API, asynchronous for every kind.

- submit: ``POST {base}/v1/models/{owner}/{name}/predictions`` with ``{"input": {...}}``,
  where the route's ``upstream_model`` is ``owner/name`` and the input holds ``prompt``,
  ``num_outputs`` (images), ``duration``, ``resolution`` and ``image`` (the image URL),
  each only when the request gives it;
- poll: ``GET {base}/v1/predictions/{id}``: ``starting`` is pending, ``processing``
  running, ``succeeded`` done with ``output`` (a URL or a list of URLs), ``failed`` failed
  with its ``error``, ``canceled`` failed with the error code ``cancelled``;
- cancel: ``POST {base}/v1/predictions/{id}/cancel`` (best effort).

Authentication is ``Authorization: Bearer`` with the provider's key; the output links are
public (``output_open`` fetches them without it). ``base_url`` has no ``/v1``. What a task
reports using: the images returned, or the seconds of video or audio it was asked for
(Replicate reports no output duration).
"""

from __future__ import annotations

import logging
from typing import Any

from catalog.selectors import RouteInfo
from gateway.providers.base import ProviderError, api_key_for
from gateway.providers.dialect import DialectBase, MediaOutput, TaskPoll, UpstreamTask
from gateway.providers.http import body_of
from gateway.providers.media_common import failure_text, task_usage, url_content_type
from gateway.providers.media_http import request_json, send

log = logging.getLogger(__name__)

KINDS = ("image", "video", "music")
# what a prediction's status is in a task's terms (anything else: still running)
STATES = {"starting": "pending", "processing": "running"}


def _auth(route: RouteInfo) -> tuple[dict[str, str], str]:
    key = api_key_for(route)
    return ({"Authorization": f"Bearer {key}"} if key else {}), key


def _base(route: RouteInfo) -> str:
    return route.base_url.rstrip("/")


def prediction_input(body: dict[str, Any]) -> dict[str, Any]:
    """The prediction's ``input`` for a canonical media body."""
    given = {
        "prompt": body.get("prompt"),
        "num_outputs": body.get("n") if body.get("kind") == "image" else None,
        "duration": body.get("duration"),
        "resolution": body.get("resolution"),
        "image": body.get("image_url"),
        "video": body.get("video_url"),  # a video-to-video task's source
    }
    return {k: v for k, v in given.items() if v is not None}


def _output_urls(output: Any) -> list[str]:
    if isinstance(output, str):
        return [output] if output else []
    if isinstance(output, list):
        return [item for item in output if isinstance(item, str) and item]
    return []


class ReplicateDialect(DialectBase):
    name = "replicate"

    def task_submit(self, route: RouteInfo, body: dict[str, Any]) -> UpstreamTask:
        owner, _, model = route.upstream_model.partition("/")
        if not owner or not model or "/" in model:
            raise ProviderError(
                f"The upstream model {route.upstream_model!r} is not owner/name",
                retryable=False,
                code="provider_not_configured",
            )
        kind = str(body.get("kind") or "image")
        if kind not in KINDS:
            raise ProviderError(f"Unknown media kind {kind!r}", status=400, retryable=False)
        headers, key = _auth(route)
        url = f"{_base(route)}/v1/models/{owner}/{model}/predictions"
        payload = {"input": prediction_input(body)}
        data = request_json("POST", url, payload, headers=headers, secret=key, require="id")
        return UpstreamTask(
            upstream_id=str(data["id"]), data={"kind": kind, "duration": body.get("duration")}
        )

    def task_poll(self, route: RouteInfo, task: UpstreamTask) -> TaskPoll:
        headers, key = _auth(route)
        url = f"{_base(route)}/v1/predictions/{task.upstream_id}"
        data = request_json("GET", url, None, headers=headers, secret=key, require="status")
        status = str(data["status"])
        if status == "succeeded":
            urls = _output_urls(data.get("output"))
            if not urls:
                return TaskPoll(
                    state="failed",
                    error="The provider finished without any output",
                    error_code="no_output",
                )
            kind = str(task.data.get("kind") or "image")
            outputs = tuple(MediaOutput(url=u, content_type=url_content_type(u)) for u in urls)
            usage = task_usage(kind, len(outputs), task.data.get("duration"))
            return TaskPoll(state="succeeded", outputs=outputs, usage=usage)
        if status == "failed":
            error = failure_text(data.get("error"), key, "The provider reported a failure")
            return TaskPoll(state="failed", error=error, error_code="provider_error")
        if status == "canceled":
            return TaskPoll(
                state="failed", error="The provider cancelled the task", error_code="cancelled"
            )
        return TaskPoll(state=STATES.get(status, "running"))  # type: ignore[arg-type]

    def task_cancel(self, route: RouteInfo, task: UpstreamTask) -> None:
        """Ask Replicate to cancel the prediction; a failure to is logged, not raised (the
        task is cancelled here either way)."""
        url = f"{_base(route)}/v1/predictions/{task.upstream_id}/cancel"
        try:
            headers, key = _auth(route)
            body_of(send("POST", url, None, headers=headers, secret=key))
        except ProviderError as exc:
            log.warning("cancelling prediction %s failed: %s", task.upstream_id, exc.message)
