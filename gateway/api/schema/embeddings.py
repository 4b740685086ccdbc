"""Operation schema of ``/v1/embeddings`` (gateway/surfaces/validation and
surfaces/embeddings)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.utils import OpenApiExample

from gateway.api.schema.parts import (
    BILLED,
    INT,
    JSON_PARSERS,
    NUM,
    STR,
    array,
    component,
    enum,
    error_set,
    obj,
    ok,
    optional,
)
from gateway.api.schema.surfaces import IDENT, MODEL, ROUTING, idempotent_post

_TOKENS = array({"type": "integer", "minimum": 0, "maximum": 2**63 - 1}, minItems=1)
EmbeddingsRequest = component(
    "EmbeddingsRequest",
    obj(
        {
            "model": MODEL,
            "input": {
                "anyOf": [
                    {"type": "string", "minLength": 1},
                    array({"type": "string", "minLength": 1}, minItems=1, maxItems=2048),
                    _TOKENS,
                    array(_TOKENS, minItems=1, maxItems=2048),
                ]
            },
            **ROUTING,
            **optional(
                {
                    "dimensions": {"type": "integer", "minimum": 1, "maximum": 65536},
                    "encoding_format": enum("float", "base64"),
                    "user": IDENT,
                }
            ),
        },
        ("model", "input"),
    ),
)
Embeddings = component(
    "Embeddings",
    obj(
        {
            "object": enum("list"),
            "id": STR,
            "model": STR,
            "provider": STR,
            "data": array(
                obj({"object": STR, "index": INT, "embedding": {"anyOf": [array(NUM), STR]}})
            ),
            "usage": obj(
                {"prompt_tokens": INT, "total_tokens": INT, "cost": INT},
                ("prompt_tokens", "total_tokens", "cost"),
            ),
        },
        ("object", "id", "model", "provider", "usage"),
    ),
)


class EmbeddingsSchema(OpenApiViewExtension):
    target_class = "gateway.api.surfaces.EmbeddingsView"

    def view_replacement(self) -> type:
        class Fixed(self.target_class):  # type: ignore[name-defined,misc]
            parser_classes = JSON_PARSERS

            @idempotent_post(
                tags=["chat"],
                summary="Create embeddings (OpenAI)",
                request=EmbeddingsRequest,
                responses={200: ok(Embeddings, "The vectors and their cost"), **error_set(*BILLED)},
                examples=[
                    OpenApiExample(
                        "one",
                        value={"model": "text-embedding-3-small", "input": "hello"},
                        request_only=True,
                    )
                ],
            )
            def post(self, request: Any) -> Any:
                return super().post(request)

        return Fixed
