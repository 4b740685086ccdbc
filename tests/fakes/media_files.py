"""Small real media files for the fake media upstream (tests.fakes.media), made with the
standard library: a PNG (zlib-compressed scanlines, CRC-checked chunks), a WAV (PCM through
``wave``) and an MP4 (an ``ftyp`` box, an empty ``moov`` box and an ``mdat`` box). Each one
is different per ``seed``, so a test can tell outputs apart by their bytes."""

from __future__ import annotations

import io
import struct
import wave
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_bytes(seed: int = 0, *, width: int = 8, height: int = 8) -> bytes:
    """An RGB PNG of one colour chosen by ``seed``."""
    pixel = bytes(((seed * 67) % 256, (seed * 131 + 40) % 256, (seed * 29 + 90) % 256))
    rows = b"".join(b"\x00" + pixel * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )


def wav_bytes(seed: int = 0, *, frames: int = 800, rate: int = 8000) -> bytes:
    """A mono 16-bit PCM WAV of ``frames`` samples (a sawtooth whose step is ``seed``)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        step = 200 + seed * 7
        w.writeframes(
            b"".join(struct.pack("<h", (i * step) % 32768 - 16384) for i in range(frames))
        )
    return out.getvalue()


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mp4_bytes(seed: int = 0) -> bytes:
    """An ISO base media file: ``ftyp`` (brand isom), ``moov`` holding an ``mvhd`` and an
    ``mdat`` of a few bytes; a sniffer reads it as video/mp4 (not a playable clip)."""
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2mp41")
    # mvhd version 0: times, timescale 1000, duration 1000 ms, rate 1.0, volume 1.0, matrix
    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    mvhd = _box(
        b"mvhd",
        struct.pack(">IIIII", 0, 0, 0, 1000, 1000)
        + struct.pack(">IH", 0x10000, 0x100)
        + bytes(10)
        + matrix
        + bytes(24)
        + struct.pack(">I", 2),
    )
    return ftyp + _box(b"moov", mvhd) + _box(b"mdat", bytes([seed % 256]) * 32)
