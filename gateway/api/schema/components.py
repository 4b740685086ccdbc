"""Shared pieces of the OpenAPI document: the error bodies (``Error``, and
``AnthropicError`` under ``/v1/messages``) and ready-made error responses, described from
the README's error table (gateway/api/errors.py is the one mapping from errors to bodies).

    from gateway.api.schema.components import errors
    responses = {200: ChatCompletion, **errors(400, 401, 402, 403, 429, 502, 503)}
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, inline_serializer
from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer):
    message = serializers.CharField(help_text="What went wrong, for a person to read.")
    type = serializers.CharField(help_text="The error's class, e.g. invalid_request_error.")
    code = serializers.CharField(help_text="The stable, machine-readable reason (the table).")
    param = serializers.CharField(
        allow_null=True, help_text="The offending value's JSON path, e.g. messages[0].content."
    )


class ErrorSerializer(serializers.Serializer):
    """``{"error": {"message", "type", "code", "param"}}``: every error but under
    /v1/messages. Component ``Error``."""

    error = ErrorDetailSerializer()


class AnthropicErrorDetailSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="Anthropic's error type, e.g. authentication_error.")
    message = serializers.CharField()
    code = serializers.CharField(help_text="The gateway's code, as in Error.")


class AnthropicErrorSerializer(serializers.Serializer):
    """``{"type": "error", "error": {"type", "message", "code"}}``: the errors under
    /v1/messages. Component ``AnthropicError``."""

    type = serializers.ChoiceField(choices=["error"])
    error = AnthropicErrorDetailSerializer()


# status -> (what it means, its codes): the README's error table
ERROR_CODES: dict[int, tuple[str, tuple[str, ...]]] = {
    400: (
        "Bad request",
        (
            "invalid_json",
            "invalid_request",
            "model_required",
            "messages_required",
            "prompt_required",
            "input_required",
            "invalid_parameter",
            "invalid_host",
        ),
    ),
    401: ("Missing, wrong or expired API key", ("invalid_api_key", "key_expired")),
    402: (
        "Not enough credits or over the key's limit",
        ("insufficient_credits", "key_limit_exceeded", "max_credits_exceeded"),
    ),
    403: (
        "Refused for this key or account",
        (
            "api_disabled",
            "model_not_allowed",
            "ip_not_allowed",
            "account_suspended",
            "key_limit",
            "management_key_not_allowed",
            "management_key_required",
        ),
    ),
    404: (
        "Not found",
        (
            "model_not_available",
            "no_matching_route",
            "generation_not_found",
            "task_not_found",
            "file_not_found",
            "not_found",
        ),
    ),
    405: ("Method not allowed", ("method_not_allowed",)),
    409: (
        "Conflict",
        (
            "task_not_cancellable",
            "idempotency_conflict",
            "idempotency_in_progress",
            "idempotency_stream_used",
            "key_revoked",
        ),
    ),
    411: ("Length required", ("length_required",)),
    413: ("Body too large", ("payload_too_large",)),
    429: ("Rate limited (Retry-After, X-RateLimit-*)", ("rate_limited",)),
    500: ("A failure of the gateway itself; nothing is charged", ("internal_error",)),
    502: ("The provider failed", ("provider_error",)),
    503: (
        "No provider could take the request",
        ("provider_not_configured", "no_route_available", "overloaded"),
    ),
}


def error_description(status: int) -> str:
    meaning, codes = ERROR_CODES[status]
    return f"{meaning}: " + ", ".join(f"`{c}`" for c in codes)


def error_response(status: int, *, anthropic: bool = False) -> OpenApiResponse:
    """One error response: its description lists the status's codes; the body is ``Error``
    (``AnthropicError`` with ``anthropic=True``)."""
    meaning, codes = ERROR_CODES[status]
    if anthropic:
        body = {
            "type": "error",
            "error": {"type": "api_error", "message": meaning, "code": codes[0]},
        }
        serializer = AnthropicErrorSerializer
    else:
        body = {
            "error": {
                "message": meaning,
                "type": "invalid_request_error",
                "code": codes[0],
                "param": None,
            }
        }
        serializer = ErrorSerializer
    return OpenApiResponse(
        response=serializer,
        description=error_description(status),
        examples=[OpenApiExample(codes[0], value=body, status_codes=[str(status)])],
    )


def errors(*statuses: int, anthropic: bool = False) -> dict[int, OpenApiResponse]:
    """``{status: error_response(status)}`` for each status, to spread into ``responses``."""
    return {s: error_response(s, anthropic=anthropic) for s in statuses}


# The errors any keyed endpoint may answer, and those of a public one.
KEYED_ERRORS = (400, 401, 403, 429)
PUBLIC_ERRORS = (400,)

__all__ = [
    "ERROR_CODES",
    "KEYED_ERRORS",
    "PUBLIC_ERRORS",
    "AnthropicErrorSerializer",
    "ErrorSerializer",
    "error_description",
    "error_response",
    "errors",
    "inline_serializer",
]
