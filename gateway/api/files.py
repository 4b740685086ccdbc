"""``GET /v1/files/<token>`` (also under ``/api/v1``): a task's stored output, streamed
from the storage. No key: the token (256 random bits) is the link's only secret, so a link
can be put in an ``<img>`` or handed to a client that has no key. Links do not expire; they
live as long as the file's row (its task's).

The answer is immutable: ``Cache-Control: private, max-age=31536000, immutable``, an
``ETag`` (``If-None-Match`` answers 304), ``Content-Type`` as stored (sniffed from the
bytes), ``X-Content-Type-Options: nosniff`` and ``Content-Security-Policy: sandbox`` (a
file opened in a tab runs nothing in the gateway's origin). A single byte range
(``Range: bytes=a-b``, ``a-``, ``-n``) answers 206 with ``Content-Range``, for video
players; an unsatisfiable one 416. HEAD answers the headers alone. An unknown token is a
404 ``file_not_found`` in the API's error shape.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from config.errors import ApiError
from gateway.api.errors import error_response
from gateway.media.models import MediaFile
from gateway.media.storage import EXTENSIONS

log = logging.getLogger(__name__)

CHUNK_BYTES = 256 * 1024
TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def etag_of(media: MediaFile) -> str:
    """A strong validator: the file behind a token never changes."""
    return '"' + hashlib.sha256(media.token.encode()).hexdigest()[:32] + '"'


def byte_range(header: str, size: int) -> tuple[int, int] | bool | None:
    """(first, last) inclusive of a single ``bytes=`` range; None when there is none (or
    several, answered whole); False when it cannot be satisfied."""
    match = _RANGE.match(header.strip().replace(" ", ""))
    if match is None:
        return None
    first_text, last_text = match.groups()
    if not first_text and not last_text:
        return None
    if not first_text:  # the last n bytes
        count = int(last_text)
        if count == 0:
            return False
        return max(0, size - count), size - 1
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if first >= size or last < first:
        return False
    return first, min(last, size - 1)


def _chunks(handle: File, first: int, length: int) -> Iterator[bytes]:
    with handle:
        if first:
            handle.seek(first)
        left = length
        while left > 0:
            piece = handle.read(min(CHUNK_BYTES, left))
            if not piece:
                return
            left -= len(piece)
            yield piece


def _headers(response: HttpResponse, media: MediaFile) -> HttpResponse:
    extension = EXTENSIONS.get(media.content_type, "bin")
    response["Cache-Control"] = "private, max-age=31536000, immutable"
    response["ETag"] = etag_of(media)
    response["Accept-Ranges"] = "bytes"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    response["Content-Disposition"] = f'inline; filename="{media.index}.{extension}"'
    return response


def not_found() -> HttpResponse:
    return error_response(ApiError(404, "file_not_found", "No such file"))


@csrf_exempt
def file_get(request: HttpRequest, token: str) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        response = error_response(
            ApiError(405, "method_not_allowed", f'Method "{request.method}" not allowed.')
        )
        response["Allow"] = "GET, HEAD"
        return response
    media = MediaFile.objects.filter(token=token).first() if TOKEN.match(token) else None
    if media is None:
        return not_found()
    if not connection.in_atomic_block:
        connection.close()  # give the connection back before a long stream
    etag = etag_of(media)
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        return _headers(HttpResponse(status=304), media)
    size = media.size
    first, last, status = 0, size - 1, 200
    wanted = byte_range(request.headers.get("Range", ""), size)
    if wanted is False:
        response = _headers(HttpResponse(status=416), media)
        response["Content-Range"] = f"bytes */{size}"
        return response
    if isinstance(wanted, tuple):
        (first, last), status = wanted, 206
    length = last - first + 1
    if request.method == "HEAD":
        response = HttpResponse(status=status, content_type=media.content_type)
    else:
        try:
            handle = default_storage.open(media.name, "rb")
        except OSError:
            log.error("file %s (task %s) is missing from the storage", media.name, media.task_id)
            return not_found()
        response = StreamingHttpResponse(
            _chunks(handle, first, length), status=status, content_type=media.content_type
        )
    response["Content-Length"] = str(length)
    if status == 206:
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    return _headers(response, media)
