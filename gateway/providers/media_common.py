"""What the media dialects share: the usage a finished task reports, the content type a
provider's link names, and a provider's failure text made safe to show."""

from __future__ import annotations

import posixpath
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from billing.pricing import Usage
from gateway.providers.base import MAX_UPSTREAM_TEXT, secret_redact

# what a link's file extension says it holds ("" when it names none of these)
EXTENSION_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".mov": "video/quicktime",
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
}


def seconds_of(value: Any) -> Decimal | None:
    """A number of seconds (``4``, ``"4"``, ``2.5``) as a Decimal; None when it is none or
    not a non-negative number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() and number >= 0 else None


def task_usage(kind: str, outputs: int, duration: Any) -> Usage:
    """What a finished task produced: ``outputs`` images, or ``duration`` seconds of video,
    or of audio (a music task without a duration: GATEWAY_MUSIC_DEFAULT_SECONDS, what it was
    estimated and held for)."""
    if kind == "image":
        return Usage(images=outputs)
    seconds = seconds_of(duration)
    if kind == "music":
        if seconds is None:
            seconds = seconds_of(settings.GATEWAY_MUSIC_DEFAULT_SECONDS) or Decimal(0)
        return Usage(audio_seconds=_whole(seconds))
    return Usage(video_seconds=_whole(seconds or Decimal(0)))


def _whole(seconds: Decimal) -> int | Decimal:
    return int(seconds) if seconds == seconds.to_integral_value() else seconds


def url_content_type(url: str) -> str:
    """The content type a link's path names by its extension, "" when it names none."""
    ext = posixpath.splitext(urlsplit(url).path)[1].lower()
    return EXTENSION_TYPES.get(ext, "")


def failure_text(text: Any, secret: str, default: str) -> str:
    """A provider's reason for a failed task, cut and with the credential redacted
    (``default`` when it gave none): the client is told why its task failed."""
    if not isinstance(text, str) or not text.strip():
        return default
    return secret_redact(text.strip()[:MAX_UPSTREAM_TEXT], secret)
