"""One mapping from errors to bodies. OpenAI-style surfaces answer
``{"error": {"message", "type", "code", "param"}}``; the Anthropic surface answers
``{"type": "error", "error": {"type", "message"}}``. Nothing here ever answers 500 for a
client's mistake."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from django.db import OperationalError
from django.http import HttpResponse
from rest_framework import exceptions as drf_exceptions

from config.db import pool_timed_out
from config.errors import ApiError, DomainError

log = logging.getLogger(__name__)

_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "invalid_request_error",
    500: "api_error",
    413: "request_too_large",
    429: "rate_limit_error",
    502: "api_error",
    503: "overloaded_error",
}


# The HTTP status of each code a domain error (raised without HTTP: billing, the webhook,
# Celery tasks) may carry; an unlisted code is a 400.
DOMAIN_STATUS = {
    "insufficient_credits": 402,
    "key_limit_exceeded": 402,
    "card_declined": 402,
    "account_suspended": 403,
    "management_key_not_allowed": 403,  # a management key on a model endpoint
    "management_key_required": 403,  # an inference key on /v1/keys
    "key_limit": 403,  # the tier's number of keys is reached: revoke one or move up a tier
    "not_found": 404,
    "payments_not_configured": 503,
    "payment_provider_error": 502,
}


def api_error_of(exc: DomainError) -> ApiError:
    """The ApiError a domain error answers as (an ApiError is one already)."""
    if isinstance(exc, ApiError):
        return exc
    return ApiError(DOMAIN_STATUS.get(exc.code, 400), exc.code, exc.message, param=exc.param)


def error_body(err: ApiError, *, surface: str = "openai") -> dict[str, Any]:
    if surface == "anthropic":
        return {
            "type": "error",
            "error": {
                "type": _ANTHROPIC_TYPES.get(err.status, "api_error"),
                "message": err.message,
                "code": err.code,
            },
        }
    return {
        "error": {
            "message": err.message,
            "type": err.error_type,
            "code": err.code,
            "param": err.param,
        }
    }


def error_response(err: ApiError, *, surface: str = "openai") -> HttpResponse:
    resp = HttpResponse(
        orjson.dumps(error_body(err, surface=surface)),
        status=err.status,
        content_type="application/json",
    )
    for name, value in err.headers.items():
        resp[name] = value
    return resp


def _from_drf(exc: Exception) -> ApiError | None:
    if isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
        return ApiError(401, "invalid_api_key", "Invalid API key")
    if isinstance(exc, drf_exceptions.PermissionDenied):
        return ApiError(403, "permission_denied", str(exc.detail))
    if isinstance(exc, drf_exceptions.NotFound):
        return ApiError(404, "not_found", str(exc.detail))
    if isinstance(exc, drf_exceptions.MethodNotAllowed):
        return ApiError(405, "method_not_allowed", str(exc.detail))
    if isinstance(exc, drf_exceptions.UnsupportedMediaType | drf_exceptions.ParseError):
        return ApiError(400, "invalid_json", str(exc.detail))
    if isinstance(exc, drf_exceptions.Throttled):
        return ApiError(429, "rate_limited", str(exc.detail))
    if isinstance(exc, drf_exceptions.ValidationError):
        return ApiError(400, "invalid_request", str(exc.detail))
    if isinstance(exc, drf_exceptions.APIException):
        return ApiError(exc.status_code, "error", str(exc.detail))
    return None


def exception_handler(exc: Exception, context: dict[str, Any]) -> HttpResponse | None:
    view = context.get("view")
    surface = getattr(view, "surface", "openai")
    if isinstance(exc, OperationalError) and pool_timed_out(exc):
        log.warning("database pool exhausted: answered 503")
        exc = ApiError(
            503,
            "overloaded",
            "The gateway is at capacity; retry shortly",
            headers={"Retry-After": "1"},
        )
    err = api_error_of(exc) if isinstance(exc, DomainError) else _from_drf(exc)
    if err is None:
        request = context.get("request")
        request_id = getattr(request, "request_id", "")
        log.error("request %s failed unexpectedly", request_id, exc_info=exc)
        err = internal_error(request_id)
    return error_response(err, surface=surface)


def internal_error(request_id: str) -> ApiError:
    """The last resort: what a client sees of a failure of ours (the log has the rest)."""
    return ApiError(
        500,
        "internal_error",
        f"The gateway failed to handle request {request_id}",
        error_type="api_error",
    )


def surface_of_path(path: str) -> str:
    """The error shape of an API path outside a view: Anthropic's under ``/v1/messages``
    (the paths an Anthropic client calls), OpenAI's elsewhere."""
    rest = path.split("/v1/", 1)[-1]
    return "anthropic" if rest == "messages" or rest.startswith("messages/") else "openai"
