"""The ``sandbox`` dialect's media: files made here, with no network, so images, videos and
music can be tried end to end on a fresh machine (``gateway.providers.sandbox`` calls these).

- images, synchronous: ``n`` PNGs (zlib-compressed, CRC-checked chunks) of the requested
  ``size`` up to 512 x 512 (64 x 64 without one), a colour chosen by the prompt and a band
  per image, so each differs;
- videos and music, as tasks: the first poll of a task in this process says running, the
  next says succeeded, with the file inline: for music a WAV (8 kHz, 8-bit mono PCM, a tone
  chosen by the prompt) as long as the duration asked (GATEWAY_MUSIC_DEFAULT_SECONDS
  without one), at most ``MAX_AUDIO_SECONDS``; for a video a small MP4 container (an
  ``ftyp``, a ``moov`` with its ``mvhd``, an ``mdat``), not a playable clip. A task reports
  the seconds it was asked for.
"""

from __future__ import annotations

import hashlib
import io
import re
import secrets
import struct
import threading
import wave
import zlib
from collections import OrderedDict
from decimal import Decimal
from typing import Any

from django.conf import settings

from gateway.providers.dialect import (
    MediaOutput,
    MediaResult,
    OperationUnsupported,
    TaskPoll,
    UpstreamTask,
)
from gateway.providers.media_common import seconds_of, task_usage

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_SIDE = 512
DEFAULT_SIDE = 64
AUDIO_RATE = 8000
MAX_AUDIO_SECONDS = 120
DEFAULT_VIDEO_SECONDS = 4

# the task ids polled once by this process (the next poll finishes them); bounded
_seen: OrderedDict[str, None] = OrderedDict()
_seen_lock = threading.Lock()
_SEEN_MAX = 10_000


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png(prompt: str, index: int, width: int = DEFAULT_SIDE, height: int = DEFAULT_SIDE) -> bytes:
    """An RGB PNG: the prompt's colour, with a band in its complement at a row set by
    ``index``."""
    seed = _digest(prompt)
    colour = bytes(seed[:3])
    band = bytes(255 - c for c in colour)
    plain = b"\x00" + colour * width
    marked = b"\x00" + band * width
    band_row = (index * 7) % height
    rows = b"".join(marked if y == band_row else plain for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(rows, 9)
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _size(value: Any) -> tuple[int, int]:
    match = re.fullmatch(r"(\d{1,5})x(\d{1,5})", str(value or ""))
    if not match:
        return DEFAULT_SIDE, DEFAULT_SIDE
    width, height = (min(max(int(v), 1), MAX_SIDE) for v in match.groups())
    return width, height


def wav(prompt: str, seconds: Decimal) -> bytes:
    """A WAV of ``seconds`` (at most MAX_AUDIO_SECONDS): a square-ish tone whose pitch the
    prompt picks."""
    period = 16 + _digest(prompt)[0] % 24  # 333 to 500 Hz at 8 kHz
    wave_bytes = bytes([200] * (period // 2) + [56] * (period - period // 2))
    frames = int(min(seconds, Decimal(MAX_AUDIO_SECONDS)) * AUDIO_RATE)
    samples = (wave_bytes * (frames // period + 1))[:frames]
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(AUDIO_RATE)
        w.writeframes(samples)
    return out.getvalue()


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mp4(prompt: str, seconds: Decimal) -> bytes:
    """An MP4 container whose movie header gives ``seconds`` as its duration."""
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2mp41")
    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    duration = int(seconds * 1000) & 0xFFFFFFFF
    mvhd = _box(
        b"mvhd",
        struct.pack(">IIIII", 0, 0, 0, 1000, duration)
        + struct.pack(">IH", 0x10000, 0x100)
        + bytes(10)
        + matrix
        + bytes(24)
        + struct.pack(">I", 2),
    )
    return ftyp + _box(b"moov", mvhd) + _box(b"mdat", _digest(prompt))


def image(body: dict[str, Any]) -> MediaResult:
    prompt = str(body.get("prompt") or "")
    n = max(int(body.get("n") or 1), 1)
    width, height = _size(body.get("size"))
    outputs = tuple(
        MediaOutput(data=png(prompt, i, width, height), content_type="image/png") for i in range(n)
    )
    native = {"data": [{"bytes": len(o.data or b"")} for o in outputs], "size": f"{width}x{height}"}
    return MediaResult(outputs=outputs, usage=task_usage("image", n, None), native=native)


def task_submit(body: dict[str, Any]) -> UpstreamTask:
    kind = str(body.get("kind") or "")
    if kind not in ("video", "music"):
        raise OperationUnsupported("sandbox", f"{kind or 'unnamed'} tasks")
    return UpstreamTask(
        upstream_id=f"sandbox-{kind}-{secrets.token_hex(8)}",
        data={
            "kind": kind,
            "prompt": str(body.get("prompt") or ""),
            "duration": body.get("duration"),
        },
    )


def _polled_before(task_id: str) -> bool:
    """Whether this process polled ``task_id`` before; records that it has now."""
    with _seen_lock:
        if task_id in _seen:
            del _seen[task_id]
            return True
        _seen[task_id] = None
        while len(_seen) > _SEEN_MAX:
            _seen.popitem(last=False)
        return False


def task_poll(task: UpstreamTask) -> TaskPoll:
    if not _polled_before(task.upstream_id):
        return TaskPoll(state="running")
    kind = str(task.data.get("kind") or "video")
    prompt = str(task.data.get("prompt") or "")
    seconds = seconds_of(task.data.get("duration"))
    if kind == "music":
        usage = task_usage("music", 1, seconds)
        default = Decimal(str(settings.GATEWAY_MUSIC_DEFAULT_SECONDS))
        heard = seconds if seconds is not None else default
        output = MediaOutput(data=wav(prompt, heard), content_type="audio/wav")
    else:
        seconds = seconds if seconds is not None else Decimal(DEFAULT_VIDEO_SECONDS)
        usage = task_usage("video", 1, seconds)
        output = MediaOutput(data=mp4(prompt, seconds), content_type="video/mp4")
    return TaskPoll(state="succeeded", outputs=(output,), usage=usage)


def task_forget(task: UpstreamTask) -> None:
    """A cancelled task's id is no longer remembered."""
    with _seen_lock:
        _seen.pop(task.upstream_id, None)
