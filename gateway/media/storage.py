"""Task outputs copied to durable storage: ``outputs_store``.

Provider links expire; the gateway's do not. Each output is read (inline bytes, or its
provider's link through the dialect's ``output_open``), at most ``GATEWAY_MEDIA_MAX_BYTES``
of it, spooled to a temporary file (memory up to ``SPOOL_BYTES``, disk past it), saved
through Django's storage API (``default_storage``: the filesystem under ``MEDIA_ROOT``, or
an S3-compatible bucket) as ``media/<user id>/<task public id>/<index>-<token>.<ext>``, and
recorded as a ``MediaFile`` whose token is the link's only secret (``/v1/files/<token>``).

Idempotent per (task, index): the unique constraint decides. An output that already has
its row is not read again; a caller that loses the race to insert it deletes the file it
saved and returns the winner's row, so no stored file is left without a row. Any failure
(the provider's link gone or answering an error, too large, the storage refusing) raises
``StorageFailed``: the task stays open and the next poll tries again, until its deadline.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import tempfile
from collections.abc import Callable, Sequence
from typing import IO, Protocol

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from gateway.media.models import MediaFile, MediaTask
from gateway.providers.base import ProviderError
from gateway.providers.dialect import MediaOutput
from gateway.providers.transport import ConnectFailed, TransportError

log = logging.getLogger(__name__)

SPOOL_BYTES = 8 * 1024 * 1024  # an output larger than this is spooled on disk
READ_BYTES = 256 * 1024
SNIFF_BYTES = 16

# what the files are served as, and their names' extensions
EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/gif": "gif",
    "video/mp4": "mp4",
    "audio/mp4": "m4a",
    "audio/wav": "wav",
    "audio/mpeg": "mp3",
}
OCTET_STREAM = "application/octet-stream"
_MIME = re.compile(r"^[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*$")


class StorageFailed(Exception):
    """An output could not be copied; nothing of it is left in the storage."""


class OutputBody(Protocol):
    """What ``open_output`` answers (``gateway.providers.transport.Response``)."""

    status: int

    def read1(self, size: int) -> bytes: ...

    def close(self) -> None: ...


OutputOpener = Callable[[MediaOutput], OutputBody]


def content_type_sniff(head: bytes) -> str:
    """The type the first bytes of a file say it is: PNG, JPEG, WEBP, GIF, MP4 (video, or
    audio for an M4A brand), WAV, MP3; "" when none of them."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[4:8] == b"ftyp":
        return "audio/mp4" if head[8:12] in (b"M4A ", b"M4B ") else "video/mp4"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    return ""


def content_type_of(head: bytes, declared: str) -> str:
    """The sniffed type when the bytes tell one (what is served, under ``nosniff``, is what
    the file is), else what the provider declared if it is a plain ``type/subtype``, else
    ``application/octet-stream``."""
    sniffed = content_type_sniff(head)
    if sniffed:
        return sniffed
    declared = declared.split(";", 1)[0].strip().lower()
    return declared if _MIME.match(declared) else OCTET_STREAM


def _spool(output: MediaOutput, open_output: OutputOpener, limit: int) -> tuple[IO[bytes], int]:
    """The output's bytes in a temporary file (rewound) and their size; StorageFailed when
    it cannot be read or exceeds ``limit`` bytes."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
    try:
        if output.data is not None:
            if len(output.data) > limit:
                raise StorageFailed(f"The output is larger than {limit} bytes")
            spool.write(output.data)
        elif output.url:
            _copy(output, open_output, spool, limit)
        else:
            raise StorageFailed("The output has neither data nor a URL")
        size = spool.tell()
        if size == 0:
            raise StorageFailed("The output is empty")
        spool.seek(0)
        return spool, size
    except BaseException:
        spool.close()
        raise


def _copy(output: MediaOutput, open_output: OutputOpener, spool: IO[bytes], limit: int) -> None:
    try:
        body = open_output(output)
    except ProviderError as exc:
        status = f" (HTTP {exc.status})" if exc.status else ""
        raise StorageFailed(f"The output could not be fetched{status}: {exc}") from exc
    except (ConnectFailed, *TransportError) as exc:
        raise StorageFailed(f"The output could not be fetched: {exc}") from exc
    try:
        if not 200 <= body.status < 300:
            raise StorageFailed(f"The output's URL answered HTTP {body.status}")
        size = 0
        while True:
            piece = body.read1(READ_BYTES)
            if not piece:
                break
            size += len(piece)
            if size > limit:
                raise StorageFailed(f"The output is larger than {limit} bytes")
            spool.write(piece)
    except (ProviderError, *TransportError) as exc:
        raise StorageFailed(f"The output could not be read: {exc}") from exc
    finally:
        body.close()


def _store_one(task: MediaTask, index: int, output: MediaOutput, opener: OutputOpener) -> MediaFile:
    spool, size = _spool(output, opener, settings.GATEWAY_MEDIA_MAX_BYTES)
    try:
        head = spool.read(SNIFF_BYTES)
        spool.seek(0)
        content_type = content_type_of(head, output.content_type)
        token = secrets.token_urlsafe(32)
        extension = EXTENSIONS.get(content_type, "bin")
        wanted = f"media/{task.user_id}/{task.public_id}/{index}-{token}.{extension}"
        try:
            name = default_storage.save(wanted, File(spool, name=wanted))
        except Exception as exc:  # the storage's own errors: OSError, botocore's, ...
            raise StorageFailed(f"The storage refused the output: {exc}") from exc
    finally:
        spool.close()
    try:
        with transaction.atomic():
            return MediaFile.objects.create(
                token=token,
                task=task,
                index=index,
                name=name,
                content_type=content_type,
                size=size,
                source_url=_source_url(output.url),
            )
    except IntegrityError:
        # another caller stored this output first: keep its row, drop our copy
        _delete_quietly(name)
        found = MediaFile.objects.filter(task=task, index=index).first()
        if found is None:
            raise StorageFailed(f"Output {index} could not be recorded") from None
        return found
    except BaseException:
        _delete_quietly(name)
        raise


def _source_url(url: str) -> str:
    """The provider's link, for the record (none for inline data or an overlong link)."""
    return url if url.startswith(("http://", "https://")) and len(url) <= 2000 else ""


def _delete_quietly(name: str) -> None:
    with contextlib.suppress(Exception):
        default_storage.delete(name)


def outputs_store(
    task: MediaTask, outputs: Sequence[MediaOutput], open_output: OutputOpener
) -> list[MediaFile]:
    """The task's ``MediaFile`` rows for ``outputs``, in order, each output copied once:
    those already stored (by this or a concurrent caller) are returned as they are. Never
    called inside a transaction that holds a lock (it reads from the provider). Raises
    StorageFailed."""
    existing = {f.index: f for f in MediaFile.objects.filter(task=task)}
    stored: list[MediaFile] = []
    for index, output in enumerate(outputs):
        found = existing.get(index)
        if found is None:
            found = _store_one(task, index, output, open_output)
            log.info("task %s: output %d stored as %s", task.public_id, index, found.name)
        stored.append(found)
    return stored
