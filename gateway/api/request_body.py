"""Reading an API request's body: bounded by ``GATEWAY_MAX_BODY_BYTES``, chunked bodies
included, read once and kept on the request."""

from __future__ import annotations

from typing import Any

import orjson
from django.conf import settings
from django.http import HttpRequest
from gunicorn.http.errors import ParseException
from rest_framework.request import Request

from config.errors import ApiError


def body_bytes(request: HttpRequest | Request) -> bytes:
    """The request's body, at most ``GATEWAY_MAX_BODY_BYTES`` bytes (413 beyond), read once
    (kept on the request).

    A chunked body has no ``Content-Length``, so Django reads it as empty. gunicorn de-chunks
    ``wsgi.input`` and says so with ``wsgi.input_terminated`` (the input ends at the body's
    end), so the body is read from there, in pieces, never more than the limit plus one
    byte. A server that does not de-chunk (Django's development server) cannot give the
    body at all: 411, not a misleading "empty body"."""
    raw = getattr(request, "gateway_body", None)
    if raw is None:
        raw = _body_read(request)
        request.gateway_body = raw  # type: ignore[attr-defined]
    return raw


def _body_read(request: HttpRequest) -> bytes:
    limit = settings.GATEWAY_MAX_BODY_BYTES
    too_large = ApiError(413, "payload_too_large", f"The body exceeds {limit} bytes")
    length = request.META.get("CONTENT_LENGTH") or ""
    chunked = not length and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    if not chunked:
        if length.isdigit() and int(length) > limit:
            raise too_large
        try:
            return request.body
        except OSError as exc:  # the client left before sending the whole body
            raise ApiError(400, "invalid_request", "The body ended early") from exc
    if not request.META.get("wsgi.input_terminated"):
        raise ApiError(
            411,
            "length_required",
            "Send the body with a Content-Length header",
            error_type="invalid_request_error",
        )
    stream = request.META["wsgi.input"]
    pieces: list[bytes] = []
    size = 0
    try:
        while piece := stream.read(min(65536, limit + 1 - size)):
            pieces.append(piece)
            size += len(piece)
            if size > limit:
                raise too_large
    except (OSError, ParseException) as exc:  # bad chunk framing, or the client left
        raise ApiError(400, "invalid_request", "The chunked body is malformed") from exc
    return b"".join(pieces)


def json_body(request: HttpRequest | Request) -> Any:
    """The request's body parsed as JSON (400 ``invalid_json`` if it is empty or is not)."""
    raw = body_bytes(request)
    if not raw:
        raise ApiError(400, "invalid_json", "The request body is empty; send a JSON object")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"The request body is not valid JSON: {exc}") from exc
