"""The WSGI handler: the console's middleware for the console and admin, a short chain for
the API.

API requests (``API_PATH_PREFIXES``) carry a key, never a cookie: sessions, CSRF, Django's
authentication, messages, static files and frame options have nothing to do for them, and
running those eight middleware on every call cost ~0.4 ms of CPU (bench/chat.py). They go
through ``API_MIDDLEWARE`` instead; everything else through ``MIDDLEWARE``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse
from django.urls import set_urlconf
from django.utils.log import log_response
from django.utils.module_loading import import_string


class GatewayWSGIHandler(WSGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async)
        chain: Any = convert_exception_to_response(self._get_response)
        for path in reversed(settings.API_MIDDLEWARE):
            chain = convert_exception_to_response(import_string(path)(chain))
        self._api_chain = chain
        self._api_prefixes = tuple(settings.API_PATH_PREFIXES)

    def get_response(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(self._api_prefixes):
            return super().get_response(request)
        set_urlconf(settings.ROOT_URLCONF)
        response = self._api_chain(request)
        response._resource_closers.append(request.close)
        if response.status_code >= 400:
            log_response(
                "%s: %s", response.reason_phrase, request.path, response=response, request=request
            )
        return response
