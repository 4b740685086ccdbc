"""The sandbox dialect's media, made locally with no network: images are valid PNGs of the
size asked (capped), music a valid WAV of its seconds, a video an MP4 container; a task says
running at its first poll and is done at the next."""

from __future__ import annotations

import io
import struct
import wave
import zlib
from decimal import Decimal

import pytest

from billing.pricing import Usage
from catalog.selectors import RouteInfo
from gateway.providers import DIALECTS
from gateway.providers.base import ProviderError
from tests.providers_media.routes import body

SANDBOX = DIALECTS["sandbox"]
ROUTE = RouteInfo(
    id=1,
    provider_slug="sandbox",
    provider_name="Sandbox",
    dialect="sandbox",
    base_url="",  # nothing is sent anywhere
    api_key_env="",
    upstream_model="sandbox-media",
    priority=100,
    weight=1,
)


def png_parts(content: bytes) -> tuple[int, int, bytes]:
    """(width, height, the decompressed scanlines) of a PNG, every chunk's CRC checked."""
    assert content[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(content):
        (length,) = struct.unpack(">I", content[pos : pos + 4])
        kind, data = content[pos + 4 : pos + 8], content[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", content[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + data) & 0xFFFFFFFF
        chunks.append((kind, data))
        pos += 12 + length
    assert [k for k, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, colour = struct.unpack(">IIBB", chunks[0][1][:10])
    assert (depth, colour) == (8, 2)  # 8-bit RGB
    return width, height, zlib.decompress(chunks[1][1])


def test_images_are_valid_pngs_of_the_size_asked() -> None:
    result = SANDBOX.image(ROUTE, body("image", n=3, size="32x16"))
    assert result.usage == Usage(images=3)
    assert len(result.outputs) == 3
    assert all(o.content_type == "image/png" and o.url == "" for o in result.outputs)
    for output in result.outputs:
        width, height, rows = png_parts(output.data or b"")
        assert (width, height) == (32, 16)
        assert len(rows) == (1 + 32 * 3) * 16
    assert len({o.data for o in result.outputs}) == 3  # each image its own
    sizes = [{"bytes": len(o.data or b"")} for o in result.outputs]
    assert result.native == {"data": sizes, "size": "32x16"}


@pytest.mark.parametrize(("size", "side"), [(None, (64, 64)), ("4096x4096", (512, 512))])
def test_image_sizes_default_and_are_capped(size: str | None, side: tuple[int, int]) -> None:
    (output,) = SANDBOX.image(ROUTE, body("image", n=1, size=size)).outputs
    assert png_parts(output.data or b"")[:2] == side


def test_music_is_a_wav_of_its_seconds_after_a_running_poll() -> None:
    task = SANDBOX.task_submit(ROUTE, body("music", duration=2.5))
    assert task.upstream_id.startswith("sandbox-music-")
    assert SANDBOX.task_poll(ROUTE, task).state == "running"
    done = SANDBOX.task_poll(ROUTE, task)
    assert done.state == "succeeded"
    assert done.usage == Usage(audio_seconds=Decimal("2.5"))
    (output,) = done.outputs
    content = output.data or b""
    assert output.content_type == "audio/wav"
    assert (content[:4], content[8:12], content[12:16]) == (b"RIFF", b"WAVE", b"fmt ")
    assert struct.unpack("<I", content[4:8])[0] == len(content) - 8
    with wave.open(io.BytesIO(content)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 1, 8000)
        assert w.getnframes() == 20_000


def test_music_without_a_duration_lasts_the_default() -> None:
    task = SANDBOX.task_submit(ROUTE, body("music"))
    SANDBOX.task_poll(ROUTE, task)
    done = SANDBOX.task_poll(ROUTE, task)
    assert done.usage == Usage(audio_seconds=30)
    with wave.open(io.BytesIO(done.outputs[0].data or b"")) as w:
        assert w.getnframes() == 30 * 8000


def test_a_video_is_an_mp4_container_of_its_seconds() -> None:
    task = SANDBOX.task_submit(ROUTE, body("video", duration=6))
    assert SANDBOX.task_poll(ROUTE, task).state == "running"
    done = SANDBOX.task_poll(ROUTE, task)
    assert done.usage == Usage(video_seconds=6)
    (output,) = done.outputs
    content = output.data or b""
    assert output.content_type == "video/mp4"
    assert content[4:12] == b"ftypisom"
    moov = content.index(b"moov")
    mvhd = content.index(b"mvhd")
    assert moov < mvhd
    timescale, duration = struct.unpack(">II", content[mvhd + 16 : mvhd + 24])
    assert (timescale, duration) == (1000, 6000)


def test_tasks_are_independent_and_a_cancel_forgets_one() -> None:
    first = SANDBOX.task_submit(ROUTE, body("video", duration=4))
    second = SANDBOX.task_submit(ROUTE, body("video", duration=4))
    assert first.upstream_id != second.upstream_id
    assert SANDBOX.task_poll(ROUTE, first).state == "running"
    assert SANDBOX.task_poll(ROUTE, second).state == "running"
    SANDBOX.task_cancel(ROUTE, second)
    assert SANDBOX.task_poll(ROUTE, first).state == "succeeded"
    assert SANDBOX.task_poll(ROUTE, second).state == "running"


def test_sandbox_image_tasks_are_refused() -> None:
    """Sandbox images are synchronous (``image``), never a task."""
    with pytest.raises(ProviderError) as caught:
        SANDBOX.task_submit(ROUTE, body("image"))
    assert caught.value.message == "The sandbox dialect does not support image tasks"
