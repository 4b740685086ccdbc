"""Operation schemas of ``/v1/messages`` and ``/v1/messages/count_tokens`` (Anthropic's shapes,
gateway/surfaces/validation/messages.py; errors as ``AnthropicError``)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema

from gateway.api.schema.parts import (
    ANY_OBJECT,
    BILLED,
    BODY,
    BOOL,
    IDEMPOTENCY_KEY,
    INT,
    JSON_PARSERS,
    KEYED,
    STR,
    Schema,
    array,
    component,
    enum,
    error_set,
    nullable,
    obj,
    ok,
    optional,
)
from gateway.api.schema.surfaces import IDENT, MODEL, ROUTING, SSE

_KNOWN = ["text", "image", "document", "tool_use", "tool_result", "thinking"]
_SOURCE = {
    "anyOf": [
        obj(
            {"type": enum("base64"), "media_type": STR, "data": STR}, ("type", "media_type", "data")
        ),
        obj({"type": enum("url"), "url": STR}, ("type", "url")),
        obj({"type": enum("file"), "file_id": STR}, ("type", "file_id")),
    ]
}
_TEXT = obj({"type": enum("text"), "text": STR}, ("type", "text"))
_SIMPLE_BLOCKS = [
    _TEXT,
    obj({"type": enum("image"), "source": _SOURCE}, ("type", "source")),
    obj({"type": enum("document"), "source": ANY_OBJECT}, ("type", "source")),
    obj(
        {"type": enum("tool_use"), "id": IDENT, "name": IDENT, "input": nullable(ANY_OBJECT)},
        ("type", "id", "name"),
    ),
    obj({"type": enum("thinking"), "thinking": STR}, ("type", "thinking")),
    # a type this gateway does not know passes as sent
    obj({"type": {"type": "string", "not": {"enum": _KNOWN}}}, ("type",)),
]
BLOCK = {
    "anyOf": [
        *_SIMPLE_BLOCKS,
        obj(
            {
                "type": enum("tool_result"),
                "tool_use_id": IDENT,
                "content": {"anyOf": [STR, array({"anyOf": _SIMPLE_BLOCKS}), {"type": "null"}]},
                "is_error": nullable(BOOL),
            },
            ("type", "tool_use_id"),
        ),
    ]
}
# what the conversion keeps: an empty text or a block it cannot translate leaves the
# message out, and a request left with no message is 400 messages_required
_KEPT = {
    "anyOf": [
        obj({"type": enum("text"), "text": {"type": "string", "minLength": 1}}, ("type", "text")),
        obj({"type": enum("image", "tool_use", "tool_result")}, ("type",)),
    ]
}
_MESSAGE = obj(
    {
        "role": enum("user", "assistant"),
        "content": {
            "anyOf": [{"type": "string", "minLength": 1}, array(BLOCK, minItems=1, contains=_KEPT)]
        },
    },
    ("role", "content"),
)
_TOOL = obj(
    {
        "name": {**IDENT, "minLength": 1},
        **optional({"description": STR, "input_schema": ANY_OBJECT}),
    },
    ("name",),
)
_MAX = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}


def _messages_body(*, max_tokens_required: bool) -> Schema:
    required = ("model", "messages", "max_tokens") if max_tokens_required else ("model", "messages")
    return obj(
        {
            "model": MODEL,
            "messages": array(_MESSAGE, minItems=1),
            "max_tokens": _MAX if max_tokens_required else nullable(_MAX),
            **ROUTING,
            **optional(
                {
                    "system": {"anyOf": [STR, array(_TEXT)]},
                    "max_completion_tokens": _MAX,
                    "temperature": {"type": "number", "minimum": 0, "maximum": 1},
                    "top_p": {"type": "number", "minimum": 0, "maximum": 1},
                    "top_k": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
                    "stream": BOOL,
                    "stop_sequences": array(STR),
                    "thinking": obj(
                        {"type": STR, "budget_tokens": _MAX},
                        ("type",),
                        description="budget_tokens is required when type is enabled",
                        **{
                            "if": {"properties": {"type": {"const": "enabled"}}},
                            "then": {"required": ["budget_tokens"]},
                        },
                    ),
                    "metadata": obj(optional({"user_id": IDENT})),
                    "tools": array(_TOOL),
                    "tool_choice": obj(
                        {
                            "type": enum("auto", "any", "tool", "none"),
                            "name": IDENT,
                            "disable_parallel_tool_use": nullable(BOOL),
                        },
                        ("type",),
                        **{
                            "if": {"properties": {"type": {"const": "tool"}}},
                            "then": {"required": ["name"]},
                        },
                    ),
                }
            ),
        },
        required,
    )


MessagesRequest = component("MessagesRequest", _messages_body(max_tokens_required=True))
CountTokensRequest = component("CountTokensRequest", _messages_body(max_tokens_required=False))
Message = component(
    "Message",
    obj(
        {
            "id": STR,
            "type": enum("message"),
            "role": enum("assistant"),
            "model": STR,
            "content": array(ANY_OBJECT),
            "stop_reason": nullable(STR),
            "stop_sequence": nullable(STR),
            "provider": STR,
            "usage": obj(
                {
                    "input_tokens": INT,
                    "output_tokens": INT,
                    "cache_read_input_tokens": nullable(INT),
                    "cache_creation_input_tokens": nullable(INT),
                    "cost": {**INT, "description": "credits charged (1,000,000 = 1 USD)"},
                },
                ("cost",),
            ),
        },
        ("id", "model", "usage", "provider"),
    ),
    "Anthropic's message: the provider's own body on an Anthropic route, else converted.",
)
TokenCount = component("TokenCount", obj({"input_tokens": INT}, ("input_tokens",), extra=False))
ANTHROPIC_VERSION = OpenApiParameter(
    "anthropic-version",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Passed to an Anthropic route; the gateway does not require it",
)
MESSAGES_EXAMPLE = {
    "model": "sandbox",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Hello"}],
}


class MessagesSchema(OpenApiViewExtension):
    target_class = "gateway.api.surfaces.MessagesView"

    def view_replacement(self) -> type:
        class Fixed(self.target_class):  # type: ignore[name-defined,misc]
            parser_classes = JSON_PARSERS

            @extend_schema(
                tags=["chat"],
                summary="Create a message (Anthropic)",
                parameters=[IDEMPOTENCY_KEY, ANTHROPIC_VERSION],
                request=MessagesRequest,
                responses={
                    (200, "application/json"): ok(Message, "The message and its cost"),
                    (200, "text/event-stream"): ok(
                        SSE, "stream: true: message_start ... message_stop events"
                    ),
                    **error_set(*BILLED, anthropic=True),
                },
                examples=[OpenApiExample("hello", value=MESSAGES_EXAMPLE, request_only=True)],
            )
            def post(self, request: Any) -> Any:
                return super().post(request)

        return Fixed


class CountTokensSchema(OpenApiViewExtension):
    target_class = "gateway.api.info.CountTokensView"

    def view_replacement(self) -> type:
        class Fixed(self.target_class):  # type: ignore[name-defined,misc]
            parser_classes = JSON_PARSERS

            @extend_schema(
                tags=["chat"],
                summary="Count a message's input tokens (an estimate; no charge)",
                parameters=[ANTHROPIC_VERSION],
                request=CountTokensRequest,
                responses={
                    200: ok(TokenCount, "The estimated input tokens"),
                    **error_set(*KEYED, *BODY, anthropic=True),
                },
                examples=[
                    OpenApiExample(
                        "hello",
                        value={"model": "sandbox", "messages": [{"role": "user", "content": "Hi"}]},
                        request_only=True,
                    ),
                    OpenApiExample("count", value={"input_tokens": 3}, response_only=True),
                ],
            )
            def post(self, request: Any) -> Any:
                return super().post(request)

        return Fixed
