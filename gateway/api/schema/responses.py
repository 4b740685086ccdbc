"""Operation schema of ``/v1/responses`` (OpenAI's Responses, gateway/surfaces/validation/
responses.py and surfaces/responses.py)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.utils import OpenApiExample, extend_schema

from gateway.api.schema.parts import (
    ANY_OBJECT,
    BILLED,
    BOOL,
    IDEMPOTENCY_KEY,
    INT,
    JSON_PARSERS,
    STR,
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
