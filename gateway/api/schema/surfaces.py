"""Operation schemas of the billed surfaces (``/v1/chat/completions``, ``/v1/completions``,
``/v1/responses``, ``/v1/messages``, ``/v1/embeddings``) and ``/v1/messages/count_tokens``,
from their validators (gateway/surfaces/validation, gateway/surfaces/completions.py and
embeddings.py) and their answers (gateway/surfaces/*). Unknown request fields pass through to
the upstream, so every request object allows additional properties; so does every answer,
which is the upstream's body with the gateway's fields set."""

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

# an id, a name, a model: any string without NUL (validation.shapes.expect_str identifier)
IDENT: Schema = {"type": "string", "pattern": "^[^\\x00]*$"}
I64: Schema = {"type": "integer", "minimum": -(2**63), "maximum": 2**64 - 1}
STRINGS = array(IDENT)
PRICE = {"anyOf": [{"type": "number", "minimum": 0, "maximum": 10**12}, STR]}

ROUTING: dict[str, Schema] = optional(
    {
        "models": {**STRINGS, "description": "Fallback model ids, tried in order"},
        "provider": obj(
            optional(
                {
                    "order": STRINGS,
                    "only": STRINGS,
                    "ignore": STRINGS,
                    "sort": enum("price", "latency", "throughput"),
                    "allow_fallbacks": BOOL,
                    "max_price": obj(
                        optional({k: PRICE for k in ("prompt", "completion", "request", "image")}),
                        description="USD per 1M tokens (prompt, completion) or per unit",
                    ),
                }
            ),
            description="OpenRouter's provider preferences",
        ),
        "transforms": array(STR),
    }
)
MODEL = {"type": "string", "minLength": 1, "pattern": "^[^\\x00]*$", "examples": ["sandbox"]}
# model, or a non-empty models list (chat_validate)
MODEL_OR_MODELS = {
    "anyOf": [
        {"required": ["model"], "properties": {"model": MODEL}},
        {"required": ["models"], "properties": {"models": {"type": "array", "minItems": 1}}},
    ]
}

_PART = {
    "anyOf": [
        obj({"type": enum("text"), "text": STR}, ("type", "text")),
        obj({"type": enum("refusal"), "refusal": STR}, ("type", "refusal")),
        obj(
            {
                "type": enum("image_url"),
                "image_url": {"anyOf": [STR, obj({"url": STR, "detail": nullable(STR)}, ("url",))]},
            },
            ("type", "image_url"),
        ),
        obj(
            {
                "type": enum("input_audio"),
                "input_audio": obj({"data": STR, "format": STR}, ("data", "format")),
            },
            ("type", "input_audio"),
        ),
        obj(
            {
                "type": enum("file"),
                "file": obj(optional({"file_id": STR, "file_data": STR, "filename": STR})),
            },
            ("type", "file"),
        ),
    ]
}
CHAT_CONTENT = {"anyOf": [STR, array(_PART), {"type": "null"}]}
_TOOL_CALL = obj(
    {
        "id": nullable(IDENT),
        "type": enum("function", null=True),
        "function": obj(
            {"name": IDENT, "arguments": {"anyOf": [STR, ANY_OBJECT, {"type": "null"}]}},
            ("name",),
        ),
    },
    ("function",),
)
CHAT_MESSAGE = obj(
    {
        "role": enum("system", "developer", "user", "assistant", "tool", "function"),
        "content": CHAT_CONTENT,
        **optional({"name": IDENT, "tool_calls": array(_TOOL_CALL), "tool_call_id": IDENT}),
    },
    ("role",),
)
_TOOL = obj(
    {
        "type": STR,
        "function": obj(
            {"name": IDENT, **optional({"description": STR, "parameters": ANY_OBJECT})}, ("name",)
        ),
    },
    ("function",),
)


def _num(low: float, high: float, *, exclusive_low: bool = False) -> Schema:
    key = "exclusiveMinimum" if exclusive_low else "minimum"
    return {"type": "number", key: low, "maximum": high}


# the fields of the canonical chat request (chat_validate) other than model and messages
CHAT_OPTIONS: dict[str, Schema] = optional(
    {
        "temperature": _num(0, 2),
        "top_p": _num(0, 1, exclusive_low=True),
        "top_k": {"type": "integer", "minimum": 1, "maximum": 2**64 - 1},
        "frequency_penalty": _num(-2, 2),
        "presence_penalty": _num(-2, 2),
        "repetition_penalty": _num(0, 2, exclusive_low=True),
        "min_p": _num(0, 1),
        "top_a": _num(0, 1),
        "top_logprobs": {"type": "integer", "minimum": 0, "maximum": 20},
        "seed": I64,
        "n": {"type": "integer", "minimum": 1, "maximum": 1},
        "stream": BOOL,
        "max_tokens": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
        "max_completion_tokens": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
        "stop": {"anyOf": [STR, array(STR, maxItems=4)]},
        "tools": array(_TOOL),
        "tool_choice": {
            "anyOf": [
                enum("none", "auto", "required"),
                obj({"type": STR, "function": obj({"name": IDENT}, ("name",))}, ("function",)),
            ]
        },
        "parallel_tool_calls": BOOL,
        "logit_bias": obj({}, extra=_num(-100, 100)),
        "response_format": obj(
            {"type": enum("text", "json_object", "json_schema"), "json_schema": ANY_OBJECT},
            ("type",),
        ),
        "stream_options": obj(optional({"include_usage": BOOL})),
        "logprobs": BOOL,
        "metadata": ANY_OBJECT,
        "user": IDENT,
        "reasoning_effort": enum("minimal", "low", "medium", "high", "none"),
        "reasoning": obj(
            optional(
                {
                    "effort": STR,
                    "max_tokens": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
                    "enabled": BOOL,
                    "exclude": BOOL,
                }
            )
        ),
    }
)

ChatRequest = component(
    "ChatCompletionRequest",
    obj(
        {
            "model": MODEL,
            "messages": array(CHAT_MESSAGE, minItems=1),
            **ROUTING,
            **CHAT_OPTIONS,
        },
        ("messages",),
        allOf=[MODEL_OR_MODELS],
    ),
    "OpenAI's chat request; model (or models) and messages are required.",
)

USAGE = obj(
    {
        "prompt_tokens": INT,
        "completion_tokens": INT,
        "total_tokens": INT,
        "prompt_tokens_details": obj({"cached_tokens": INT, "audio_tokens": INT}),
        "completion_tokens_details": obj({"reasoning_tokens": INT}),
        "cost": {**INT, "description": "credits charged (1,000,000 = 1 USD)"},
    },
    ("prompt_tokens", "completion_tokens", "total_tokens", "cost"),
)
FINISH = enum("stop", "length", "tool_calls", "content_filter", "error", null=True)
ChatCompletion = component(
    "ChatCompletion",
    obj(
        {
            "id": STR,
            "object": enum("chat.completion"),
            "created": INT,
            "model": STR,
            "provider": STR,
            "system_fingerprint": nullable(STR),
            "choices": array(
                obj(
                    {
                        "index": INT,
                        "message": ANY_OBJECT,
                        "finish_reason": FINISH,
                        "native_finish_reason": nullable(STR),
                    }
                )
            ),
            "usage": USAGE,
        },
        ("id", "object", "model", "provider", "usage"),
    ),
)
SSE = {"type": "string", "description": "Server-sent events (data: {...} lines)"}


def _stream(description: str) -> dict[Any, Any]:
    return {(200, "text/event-stream"): ok(SSE, description)}


def idempotent_post(**kwargs: Any) -> Any:
    return extend_schema(parameters=[IDEMPOTENCY_KEY], **kwargs)


CHAT_EXAMPLE = {"model": "sandbox", "messages": [{"role": "user", "content": "Hello"}]}


class ChatCompletionsSchema(OpenApiViewExtension):
    target_class = "gateway.api.surfaces.ChatCompletionsView"

    def view_replacement(self) -> type:
        class Fixed(self.target_class):  # type: ignore[name-defined,misc]
            parser_classes = JSON_PARSERS

            @idempotent_post(
                tags=["chat"],
                summary="Create a chat completion (OpenAI)",
                request=ChatRequest,
                responses={
                    (200, "application/json"): ok(ChatCompletion, "The completion and its cost"),
                    **_stream("stream: true: chat.completion.chunk events, then data: [DONE]"),
                    **error_set(*BILLED),
                },
                examples=[OpenApiExample("hello", value=CHAT_EXAMPLE, request_only=True)],
            )
            def post(self, request: Any) -> Any:
                return super().post(request)

        return Fixed


CompletionRequest = component(
    "CompletionRequest",
    obj(
        {
            "model": MODEL,
            "prompt": {
                "anyOf": [
                    {"type": "string", "minLength": 1},
                    array({"type": "string", "minLength": 1}, minItems=1, maxItems=1),
                ]
            },
            "echo": {"type": ["boolean", "null"], "enum": [False, None]},
            "logprobs": {
                "anyOf": [
                    {"type": ["boolean", "null"], "enum": [False, None]},
                    {"type": "integer", "minimum": 0, "maximum": 20},
                ]
            },
            "suffix": nullable(STR),
            **ROUTING,
            **{k: v for k, v in CHAT_OPTIONS.items() if k != "logprobs"},
        },
        ("prompt",),
        allOf=[MODEL_OR_MODELS],
    ),
    "The legacy text completion; served as one user message.",
)
Completion = component(
    "TextCompletion",
    obj(
        {
            "id": STR,
            "object": enum("text_completion"),
            "created": nullable(INT),
            "model": STR,
            "provider": STR,
            "system_fingerprint": nullable(STR),
            "choices": array(
                obj(
                    {
                        "text": STR,
                        "index": INT,
                        "logprobs": {"type": "null"},
                        "finish_reason": FINISH,
                        "native_finish_reason": nullable(STR),
                    },
                    ("text", "index"),
                )
            ),
            "usage": USAGE,
        },
        ("id", "object", "model", "provider", "choices", "usage"),
    ),
)


class CompletionsSchema(OpenApiViewExtension):
    target_class = "gateway.api.surfaces.CompletionsView"

    def view_replacement(self) -> type:
        class Fixed(self.target_class):  # type: ignore[name-defined,misc]
            parser_classes = JSON_PARSERS

            @idempotent_post(
                tags=["chat"],
                summary="Create a text completion (OpenAI legacy)",
                request=CompletionRequest,
                responses={
                    (200, "application/json"): ok(Completion, "The completion and its cost"),
                    **_stream("stream: true: text_completion events, then data: [DONE]"),
                    **error_set(*BILLED),
                },
                examples=[
                    OpenApiExample(
                        "prompt", value={"model": "sandbox", "prompt": "Say hi"}, request_only=True
                    )
                ],
            )
            def post(self, request: Any) -> Any:
                return super().post(request)

        return Fixed
