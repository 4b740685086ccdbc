"""Operation schemas of the endpoints that charge nothing: ``/v1/models``,
``/v1/models/{model_id}`` (public), ``/v1/key`` and ``/v1/generation`` (gateway/api/info.py)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.utils import OpenApiParameter, extend_schema

from gateway.api.schema.parts import (
    BOOL,
    CREDITS,
    INT,
    KEYED,
    PUBLIC,
    STR,
    array,
    component,
    enum,
    error_set,
    nullable,
    obj,
    ok,
)

AMOUNT = {"type": "number"}
DECIMAL = {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$", "description": "a decimal"}
ModelEntry = component(
    "Model",
    obj(
        {
            "id": STR,
            "object": enum("model"),
            "canonical_slug": STR,
            "name": STR,
            "created": INT,
            "owned_by": STR,
            "description": STR,
            "context_length": INT,
            "architecture": obj(
                {"modality": STR, "input_modalities": array(STR), "output_modalities": array(STR)}
            ),
            "pricing": obj(
                {}, extra=DECIMAL, description="USD per token (per unit for request, image...)"
            ),
            "pricing_credits": obj({"unit": STR}, extra=STR),
            "top_provider": obj(
                {
                    "context_length": INT,
                    "max_completion_tokens": nullable(INT),
                    "is_moderated": BOOL,
                }
            ),
            "providers": array(STR),
            "supported_parameters": array(STR),
            "endpoint": STR,
        },
        ("id", "object", "name", "pricing", "endpoint"),
    ),
)
ModelList = component(
    "ModelList",
    obj(
        {"object": enum("list"), "data": array({"$ref": "#/components/schemas/Model"})},
        ("object", "data"),
    ),
)
MODALITY = OpenApiParameter(
    "output_modalities",
    {"type": "string", "enum": ["text", "image", "audio", "video", "embeddings"]},
    OpenApiParameter.QUERY,
    required=False,
    description="Only the models producing this output",
)


class ModelsSchema(OpenApiViewExtension):
    target_class = "gateway.api.info.ModelsView"

    def view_replacement(self) -> type:
        class Fixed(self.target_class):  # type: ignore[name-defined,misc]
            @extend_schema(
                tags=["models"],
                summary="List the enabled models (public)",
                parameters=[MODALITY],
                responses={200: ok(ModelList, "The models"), **error_set(400, *PUBLIC)},
            )
            def get(self, request: Any) -> Any:
                return super().get(request)

        return Fixed


class ModelSchema(OpenApiViewExtension):
    target_class = "gateway.api.info.ModelView"

    def view_replacement(self) -> type:
        class Fixed(self.target_class):  # type: ignore[name-defined,misc]
            @extend_schema(
                tags=["models"],
                summary="One enabled model by id or alias (public)",
                parameters=[
                    OpenApiParameter(
                        "model_id", str, OpenApiParameter.PATH, description="e.g. sandbox/echo"
                    )
                ],
                responses={200: ok(ModelEntry, "The model"), **error_set(404, *PUBLIC)},
            )
            def get(self, request: Any, model_id: str) -> Any:
                return super().get(request, model_id)

        return Fixed


KeyInfo = component(
    "KeyInfo",
    obj(
        {
            "data": obj(
                {
                    "label": STR,
                    "name": STR,
                    "limit": nullable(AMOUNT),
                    "limit_reset": enum("daily", "weekly", "monthly", null=True),
                    "is_management_key": {"type": "boolean"},
                    "disabled": {"type": "boolean"},
                    "usage": AMOUNT,
                    "usage_daily": AMOUNT,
                    "usage_weekly": AMOUNT,
                    "usage_monthly": AMOUNT,
                    "limit_credits": nullable({"type": "integer"}),
                    "limit_remaining_credits": nullable({"type": "integer"}),
                    "usage_credits": {"type": "integer"},
                    "usage_daily_credits": {"type": "integer"},
                    "usage_weekly_credits": {"type": "integer"},
                    "usage_monthly_credits": {"type": "integer"},
                    "is_free_tier": {"type": "boolean"},
                    "held": AMOUNT,
                    "limit_remaining": nullable(AMOUNT),
                    "balance": AMOUNT,
                    "available": AMOUNT,
                    "spendable": AMOUNT,
                    "rate_limit": nullable(obj({"requests": INT, "interval": STR})),
                    "expires_at": nullable({"type": "string", "format": "date-time"}),
                    "allowed_models": nullable(array(STR)),
                    "units": STR,
                }
            )
        },
        ("data",),
    ),
)


class KeySchema(OpenApiViewExtension):
    target_class = "gateway.api.info.KeyView"

    def view_replacement(self) -> type:
        class Fixed(self.target_class):  # type: ignore[name-defined,misc]
            @extend_schema(
                tags=["keys"],
                summary="The calling key: limit, usage, balance (inference or management key)",
                responses={200: ok(KeyInfo, "The key"), **error_set(*KEYED)},
            )
            def get(self, request: Any) -> Any:
                return super().get(request)

        return Fixed


Generation = component(
    "Generation",
    obj(
        {
            "data": obj(
                {
                    "id": STR,
                    "created_at": {"type": "string", "format": "date-time"},
                    "model": STR,
                    "provider": STR,
                    "upstream_model": STR,
                    "surface": STR,
                    "status": STR,
                    "http_status": nullable(INT),
                    "error_code": nullable(STR),
                    "finish_reason": nullable(STR),
                    "streamed": BOOL,
                    "cancelled": BOOL,
                    "usage_estimated": BOOL,
                    "latency_ms": nullable(INT),
                    "time_to_first_token_ms": nullable(INT),
                    "tokens_prompt": nullable(INT),
                    "tokens_completion": nullable(INT),
                    "tokens_cached": nullable(INT),
                    "tokens_reasoning": nullable(INT),
                    "native_usage": {},
                    "prices": {},
                    "cost": nullable(CREDITS),
                    "cost_breakdown": {},
                    "cost_units": STR,
                    "attempts": {},
                    "api_key": nullable(STR),
                },
                ("id", "model", "status", "cost"),
            )
        },
        ("data",),
    ),
)


class GenerationSchema(OpenApiViewExtension):
    target_class = "gateway.api.info.GenerationView"

    def view_replacement(self) -> type:
        class Fixed(self.target_class):  # type: ignore[name-defined,misc]
            @extend_schema(
                tags=["generations"],
                summary="One request's record (its cost, tokens, provider, timing)",
                parameters=[
                    OpenApiParameter(
                        "id",
                        {"type": "string", "minLength": 1, "pattern": "^[^\\x00]*$"},
                        OpenApiParameter.QUERY,
                        required=True,
                        description="The request id (X-Request-Id, the completion's id)",
                    )
                ],
                responses={
                    200: ok(Generation, "The record"),
                    **error_set(400, 404, *KEYED),
                },
            )
            def get(self, request: Any) -> Any:
                return super().get(request)

        return Fixed
