"""Operation schemas of ``/v1/messages``, ``/v1/messages/count_tokens`` (Anthropic's shapes,
gateway/surfaces/validation/messages.py; errors as ``AnthropicError``) and ``/v1/responses``
(OpenAI's Responses, gateway/surfaces/validation/responses.py and surfaces/responses.py)."""

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


_PART = {
    "anyOf": [
        obj({"type": enum("input_text", "output_text", "text"), "text": STR}, ("type", "text")),
        obj({"type": enum("refusal"), "refusal": STR}, ("type", "refusal")),
        obj(
            {
                "type": enum("input_image"),
                **optional({"image_url": STR, "file_id": STR, "detail": STR}),
            },
            ("type",),
            anyOf=[{"required": ["image_url"]}, {"required": ["file_id"]}],
        ),
        obj(
            {
                "type": enum("input_file"),
                **optional({"file_id": STR, "file_data": STR, "filename": STR, "file_url": STR}),
            },
            ("type",),
        ),
    ]
}
_ITEM = {
    "anyOf": [
        obj(
            {
                "type": enum("message"),
                "role": enum("user", "assistant", "system", "developer"),
                "content": {"anyOf": [STR, array(_PART)]},
            },
            ("role", "content"),
        ),
        obj(
            {
                "type": enum("function_call"),
                "call_id": IDENT,
                "name": {**IDENT, "minLength": 1},
                "arguments": nullable(STR),
            },
            ("type", "call_id", "name"),
        ),
        obj(
            {
                "type": enum("function_call_output"),
                "call_id": IDENT,
                "output": {"not": {"type": "null"}},
            },
            ("type", "call_id", "output"),
        ),
        obj({"type": enum("reasoning")}, ("type",)),
    ]
}
ResponsesRequest = component(
    "ResponseRequest",
    obj(
        {
            "model": MODEL,
            "input": {"anyOf": [{"type": "string", "minLength": 1}, array(_ITEM, minItems=1)]},
            "previous_response_id": {
                "anyOf": [{"type": "null"}, {"type": "string", "maxLength": 0}],
                "description": "Not supported: the gateway is stateless",
            },
            "store": {"type": ["boolean", "null"], "enum": [False, None]},
            **ROUTING,
            **optional(
                {
                    "instructions": STR,
                    "max_output_tokens": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
                    "temperature": {"type": "number", "minimum": 0, "maximum": 2},
                    "top_p": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                    "stream": BOOL,
                    "parallel_tool_calls": BOOL,
                    "tools": array(
                        obj(
                            {
                                "type": enum("function"),
                                "name": {**IDENT, "minLength": 1},
                                **optional(
                                    {"description": STR, "parameters": ANY_OBJECT, "strict": BOOL}
                                ),
                            },
                            ("type", "name"),
                        )
                    ),
                    "tool_choice": {
                        "anyOf": [
                            enum("none", "auto", "required"),
                            obj({"type": enum("function"), "name": IDENT}, ("type", "name")),
                        ]
                    },
                    "text": obj(
                        optional(
                            {
                                "format": obj(
                                    {
                                        "type": enum("text", "json_object", "json_schema"),
                                        "name": IDENT,
                                        "schema": ANY_OBJECT,
                                        "strict": nullable(BOOL),
                                    },
                                    ("type",),
                                )
                            }
                        )
                    ),
                    "reasoning": obj(
                        optional(
                            {
                                "effort": enum("minimal", "low", "medium", "high", "none"),
                                "summary": STR,
                            }
                        )
                    ),
                    "metadata": ANY_OBJECT,
                }
            ),
        },
        ("model", "input"),
    ),
)
Response = component(
    "Response",
    obj(
        {
            "id": STR,
            "object": enum("response"),
            "created_at": INT,
            "status": enum("completed", "incomplete", "in_progress", "failed"),
            "model": STR,
            "provider": STR,
            "output": array(ANY_OBJECT),
            "error": nullable(ANY_OBJECT),
            "incomplete_details": nullable(ANY_OBJECT),
            "instructions": nullable(STR),
            "metadata": ANY_OBJECT,
            "store": BOOL,
            "usage": obj(
                {
                    "input_tokens": INT,
                    "input_tokens_details": obj({"cached_tokens": INT}),
                    "output_tokens": INT,
                    "output_tokens_details": obj({"reasoning_tokens": INT}),
                    "total_tokens": INT,
                    "cost": INT,
                },
                ("input_tokens", "output_tokens", "total_tokens", "cost"),
            ),
        },
        ("id", "object", "created_at", "status", "model", "output", "usage"),
    ),
)


class ResponsesSchema(OpenApiViewExtension):
    target_class = "gateway.api.surfaces.ResponsesView"

    def view_replacement(self) -> type:
        class Fixed(self.target_class):  # type: ignore[name-defined,misc]
            parser_classes = JSON_PARSERS

            @extend_schema(
                tags=["chat"],
                summary="Create a response (OpenAI Responses; stateless)",
                parameters=[IDEMPOTENCY_KEY],
                request=ResponsesRequest,
                responses={
                    (200, "application/json"): ok(Response, "The response and its cost"),
                    (200, "text/event-stream"): ok(SSE, "stream: true: response.* events"),
                    **error_set(*BILLED),
                },
                examples=[
                    OpenApiExample(
                        "hello", value={"model": "sandbox", "input": "Hello"}, request_only=True
                    )
                ],
            )
            def post(self, request: Any) -> Any:
                return super().post(request)

        return Fixed
