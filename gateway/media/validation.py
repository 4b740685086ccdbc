"""Validation of the media request bodies: ``POST /v1/images/generations``, ``/v1/videos``,
``/v1/music/generations`` and ``/v1/credits/estimate``.

Each body is checked whole before anything is resolved or held: a body that is not a JSON
object is 400 ``invalid_request``, a missing model or prompt is 400 ``model_required`` or
``prompt_required``, and any other bad field is 400 ``invalid_parameter`` naming it in
``param``. What passes is the canonical media request the engine hands the dialects
(``gateway.media.engine.TaskRequest``): ``{"prompt", "n", "size", "quality", "duration",
"resolution", "input_mode", "image_url"}``. Unknown fields are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from config.errors import ApiError
from gateway.media.callbacks import callback_url_check
from gateway.surfaces.validation import (
    expect_choice,
    expect_int,
    expect_number,
    expect_str,
    invalid,
    is_int,
    json_checked,
)

KINDS = ("image", "video", "music")
MAX_IMAGES = 10  # OpenAI's own limit of n
MAX_SECONDS = 3600  # a generated clip or track longer than an hour is refused as a mistake
MAX_PROMPT_CHARS = 32_000
MAX_URL_CHARS = 2000  # MediaTask.callback_url's column
MAX_CREDITS = 2**63 - 1
QUALITIES = ("auto", "low", "medium", "high", "standard", "hd")
RESPONSE_FORMATS = ("url", "b64_json")
INPUT_MODES = ("text-to-video", "image-to-video", "video-to-video")
# what /v1/credits/estimate takes as modality: the three kinds, audio for music, and text
MODALITIES = ("text", "image", "video", "music", "audio")
# a size or resolution as providers name them: 1024x1024, 16:9, 720p, 4k, auto
_DIMENSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9:x._-]{0,31}")
_INPUT_URL = re.compile(r"(https?://\S+|data:(image|video)/[A-Za-z0-9.+-]+;base64,\S+)", re.ASCII)


@dataclass(frozen=True, slots=True)
class MediaBody:
    """A checked media request: its kind, model, canonical parameters (``params``, the
    canonical body without ``kind``), budget and callback."""

    kind: str
    model: str
    params: dict[str, Any]
    max_credits: int | None = None
    callback_url: str = ""
    response_format: str = "url"  # images only: how a synchronous answer gives its files


@dataclass(frozen=True, slots=True)
class EstimateBody:
    """A checked ``/v1/credits/estimate`` body: ``modality`` is None when the model decides
    (its output modalities); ``body`` is the request itself, for a text model's estimate."""

    model: str
    modality: str | None
    n: int = 1
    duration: float | int | None = None
    resolution: str | None = None
    input_mode: str | None = None
    max_credits: int | None = None
    body: dict[str, Any] = field(default_factory=dict)


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "The request body must be a JSON object")
    return json_checked(body)


def _given(body: dict[str, Any], name: str) -> bool:
    return body.get(name) is not None


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if model is None or model == "":
        raise ApiError(400, "model_required", "model is required", param="model")
    return expect_str(model, "model", identifier=True)


def _prompt(body: dict[str, Any]) -> str:
    prompt = body.get("prompt")
    if prompt is None or prompt == "":
        raise ApiError(400, "prompt_required", "prompt is required", param="prompt")
    expect_str(prompt, "prompt")
    if not prompt.strip():
        raise invalid("prompt", "prompt must not be blank")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise invalid("prompt", f"prompt may hold at most {MAX_PROMPT_CHARS} characters")
    if "\x00" in prompt:
        raise invalid("prompt", "prompt must not contain a NUL character")
    return prompt


def _dimension(body: dict[str, Any], name: str) -> str | None:
    """A size or resolution (``1024x1024``, ``16:9``, ``720p``, ``auto``), or None."""
    if not _given(body, name):
        return None
    value = expect_str(body[name], name)
    if not _DIMENSION.fullmatch(value):
        raise invalid(name, f"{name} must be a size such as 1024x1024, 16:9 or 720p")
    return value


def _seconds(
    body: dict[str, Any], name: str = "duration", *, whole: bool = False
) -> int | float | None:
    """A positive number of seconds up to an hour; a whole number stays an integer.
    ``whole``: a video's, which providers make in whole seconds (OpenAI's ``seconds`` is
    a string of digits), so 4.5 is refused here rather than by the provider after a hold."""
    if not _given(body, name):
        return None
    value = expect_number(body[name], name)
    if not 0 < value <= MAX_SECONDS:
        raise invalid(name, f"{name} must be more than 0 and at most {MAX_SECONDS} seconds")
    if whole and not is_int(value):
        raise invalid(name, f"{name} must be a whole number of seconds for a video")
    return int(value) if is_int(value) else float(value)


def _max_credits(body: dict[str, Any]) -> int | None:
    if not _given(body, "max_credits"):
        return None
    return expect_int(body["max_credits"], "max_credits", low=0, high=MAX_CREDITS)


def _input_url(body: dict[str, Any], name: str) -> str | None:
    if not _given(body, name):
        return None
    value = expect_str(body[name], name, nonempty=True)
    if not _INPUT_URL.fullmatch(value):
        raise invalid(name, f"{name} must be an http(s) URL or a base64 data: URL")
    if value.startswith("http") and len(value) > MAX_URL_CHARS:
        raise invalid(name, f"{name} may hold at most {MAX_URL_CHARS} characters")
    return value


def callback_url_of(body: dict[str, Any]) -> str:
    """``callback_url`` ("" when absent), refused unless it is a public http(s) address
    (``gateway.media.callbacks.callback_url_check``, which resolves the name)."""
    if not _given(body, "callback_url"):
        return ""
    url = expect_str(body["callback_url"], "callback_url", nonempty=True)
    callback_url_check(url)
    return url


def _params(**values: Any) -> dict[str, Any]:
    """The canonical parameters, every field present (None when not given)."""
    base = dict.fromkeys(
        ("prompt", "n", "size", "quality", "duration", "resolution", "input_mode", "image_url")
    )
    base.update(values)
    return base


def image_validate(raw: Any) -> MediaBody:
    """``POST /v1/images/generations``: model, prompt, n (1 to 10, default 1), size,
    quality, response_format (url or b64_json), max_credits, callback_url."""
    body = _object(raw)
    model, prompt = _model(body), _prompt(body)
    n = expect_int(body["n"], "n", low=1, high=MAX_IMAGES) if _given(body, "n") else 1
    size = _dimension(body, "size")
    quality = None
    if _given(body, "quality"):
        quality = expect_choice(body["quality"], "quality", QUALITIES)
    response_format = "url"
    if _given(body, "response_format"):
        fmt = body["response_format"]
        response_format = expect_choice(fmt, "response_format", RESPONSE_FORMATS)
    max_credits = _max_credits(body)
    return MediaBody(
        kind="image",
        model=model,
        params=_params(prompt=prompt, n=n, size=size, quality=quality),
        max_credits=max_credits,
        callback_url=callback_url_of(body),
        response_format=response_format,
    )


def _input_mode(body: dict[str, Any], image_url: str | None) -> str:
    """The video's input mode: as given, or image-to-video when an image is given."""
    if not _given(body, "input_mode"):
        return "image-to-video" if image_url else "text-to-video"
    mode = expect_choice(body["input_mode"], "input_mode", INPUT_MODES)
    if mode == "image-to-video" and not image_url:
        raise invalid("image_url", "image_url is required when input_mode is image-to-video")
    if mode == "video-to-video" and not _given(body, "video_url"):
        raise invalid("video_url", "video_url is required when input_mode is video-to-video")
    return mode


def video_validate(raw: Any) -> MediaBody:
    """``POST /v1/videos``: model, prompt, duration (seconds, required), resolution,
    input_mode, image_url (video_url for video-to-video), max_credits, callback_url."""
    body = _object(raw)
    model, prompt = _model(body), _prompt(body)
    if not _given(body, "duration"):
        raise invalid("duration", "duration (seconds) is required")
    duration = _seconds(body, whole=True)
    resolution = _dimension(body, "resolution")
    image_url = _input_url(body, "image_url")
    video_url = _input_url(body, "video_url")
    mode = _input_mode(body, image_url)
    params = _params(
        prompt=prompt,
        duration=duration,
        resolution=resolution,
        input_mode=mode,
        image_url=image_url,
    )
    if video_url:
        params["video_url"] = video_url
    max_credits = _max_credits(body)
    return MediaBody(
        kind="video",
        model=model,
        params=params,
        max_credits=max_credits,
        callback_url=callback_url_of(body),
    )


def music_validate(raw: Any) -> MediaBody:
    """``POST /v1/music/generations``: model, prompt, duration (seconds, optional: the
    engine estimates ``GATEWAY_MUSIC_DEFAULT_SECONDS`` without it), max_credits,
    callback_url."""
    body = _object(raw)
    model, prompt = _model(body), _prompt(body)
    duration = _seconds(body)
    max_credits = _max_credits(body)
    return MediaBody(
        kind="music",
        model=model,
        params=_params(prompt=prompt, duration=duration),
        max_credits=max_credits,
        callback_url=callback_url_of(body),
    )


def estimate_validate(raw: Any) -> EstimateBody:
    """``POST /v1/credits/estimate``: model, modality (text, image, video, music or audio;
    the model's own output by default), n, duration, resolution, input_mode, max_credits.
    A text model's fields (prompt or messages, max_tokens) are checked by its estimate."""
    body = _object(raw)
    model = _model(body)
    modality = None
    if _given(body, "modality"):
        modality = expect_choice(body["modality"], "modality", MODALITIES)
        modality = "music" if modality == "audio" else modality
    n = expect_int(body["n"], "n", low=1, high=MAX_IMAGES) if _given(body, "n") else 1
    duration = _seconds(body, whole=modality == "video")
    resolution = _dimension(body, "resolution")
    mode = (
        expect_choice(body["input_mode"], "input_mode", INPUT_MODES)
        if _given(body, "input_mode")
        else None
    )
    if _given(body, "prompt") and not isinstance(body["prompt"], str):
        raise invalid("prompt", "prompt must be a string")
    return EstimateBody(
        model=model,
        modality=modality,
        n=n,
        duration=duration,
        resolution=resolution,
        input_mode=mode,
        max_credits=_max_credits(body),
        body=body,
    )
