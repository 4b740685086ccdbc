"""Middleware of the API: every request gets an id (``gen-...``) echoed in ``X-Request-Id``,
its ``Host`` is checked against ``ALLOWED_HOSTS`` (on the console ``CommonMiddleware`` does
that), and every whole (non-streamed) response gets its ``Content-Length``, so that clients
and the server can keep the connection alive without chunked framing (on the console
``CommonMiddleware`` does the latter)."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse

from config.errors import ApiError
from gateway.api.errors import error_response, surface_of_path


def request_id_new() -> str:
    return "gen-" + secrets.token_hex(12)


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.request_id = request_id_new()  # type: ignore[attr-defined]
        response = self.get_response(request)
        response["X-Request-Id"] = request.request_id  # type: ignore[attr-defined]
        return response


class AllowedHostMiddleware:
    """A ``Host`` outside ``ALLOWED_HOSTS`` gets a JSON 400 ``invalid_host`` in the
    surface's error shape, before anything builds a URL from it (Django's own answer to
    ``DisallowedHost`` would be an HTML page)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            request.get_host()
        except DisallowedHost:
            err = ApiError(400, "invalid_host", "The Host header names no host this server serves")
            return error_response(err, surface=surface_of_path(request.path_info))
        return self.get_response(request)


class ContentLengthMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not response.streaming and "Content-Length" not in response:
            response["Content-Length"] = str(len(response.content))
        return response
