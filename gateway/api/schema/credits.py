"""Operation schemas of ``/v1/credits`` (any key of the account), ``/v1/credits/packs``
and ``/v1/credits/estimate`` (public; gateway/media/validation.estimate_validate)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.utils import OpenApiExample, extend_schema

from gateway.api.schema.parts import (
    BODY,
    BOOL,
    CREDITS,
    INT,
    JSON_PARSERS,
    KEYED,
    NUM,
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

Credits = component(
    "Credits",
    obj(
        {
            "data": obj(
                {
                    "total_credits": {**NUM, "description": "USD ever added, less refunds"},
                    "total_usage": {**NUM, "description": "USD used"},
                    "balance": CREDITS,
                    "held": CREDITS,
                    "available": CREDITS,
                    "tier": STR,
                },
                ("total_credits", "total_usage", "balance", "held", "available", "tier"),
                extra=False,
            )
        },
        ("data",),
    ),
)
Packs = component(
    "CreditPacks",
    obj(
        {
            "data": array(
                obj(
                    {
                        "id": STR,
                        "name": STR,
                        "description": STR,
                        "price_usd": {"type": "string", "pattern": "^[0-9]+\\.[0-9]{2}$"},
                        "credits": INT,
                        "bonus_credits": INT,
                    },
                    ("id", "name", "price_usd", "credits", "bonus_credits"),
                )
            )
        },
        ("data",),
    ),
)
_SECONDS = {"type": "number", "exclusiveMinimum": 0, "maximum": 3600}
EstimateRequest = component(
    "EstimateRequest",
    obj(
        {
            "model": {"type": "string", "minLength": 1, "pattern": "^[^\\x00]*$"},
            "modality": enum("text", "image", "video", "music", "audio", null=True),
            "n": nullable({"type": "integer", "minimum": 1, "maximum": 10}),
            "duration": nullable({**_SECONDS, "description": "seconds; whole for a video"}),
            "resolution": nullable(
                {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9:x._-]{0,31}$"}
            ),
            "input_mode": enum("text-to-video", "image-to-video", "video-to-video", null=True),
            "max_credits": nullable({"type": "integer", "minimum": 0, "maximum": 2**63 - 1}),
            "prompt": nullable(STR),
            "messages": {"description": "a text model's messages, checked as a chat request's"},
            "max_tokens": {"description": "a text model's completion cap"},
        },
        ("model",),
    ),
    "What a request would hold; a text model's other fields are read as a chat request's.",
)
Estimate = component(
    "Estimate",
    obj(
        {
            "model": STR,
            "credits": CREDITS,
            "usd": NUM,
            "max_credits": nullable(INT),
            "within_budget": BOOL,
        },
        ("model", "credits", "usd", "max_credits", "within_budget"),
        extra=False,
    ),
)


class CreditsSchema(OpenApiViewExtension):
    target_class = "gateway.api.credits.CreditsView"

    def view_replacement(self) -> type:
        class Fixed(self.target_class):  # type: ignore[name-defined,misc]
            @extend_schema(
                tags=["credits"],
                summary="The account's credits (inference or management key)",
                responses={
                    200: ok(Credits, "Credits in USD and exact credits"),
                    **error_set(*KEYED),
                },
            )
            def get(self, request: Any) -> Any:
                return super().get(request)

        return Fixed


class PacksSchema(OpenApiViewExtension):
    target_class = "gateway.api.credits.PacksView"

    def view_replacement(self) -> type:
        class Fixed(self.target_class):  # type: ignore[name-defined,misc]
            @extend_schema(
                tags=["credits"],
                summary="The credit packs on sale (public)",
                responses={200: ok(Packs, "The packs"), **error_set(*PUBLIC)},
            )
            def get(self, request: Any) -> Any:
                return super().get(request)

        return Fixed


class EstimateSchema(OpenApiViewExtension):
    target_class = "gateway.api.estimate.EstimateView"

    def view_replacement(self) -> type:
        class Fixed(self.target_class):  # type: ignore[name-defined,misc]
            parser_classes = JSON_PARSERS

            @extend_schema(
                tags=["credits"],
                summary="What a request would hold, in credits (public)",
                request=EstimateRequest,
                responses={200: ok(Estimate, "The estimate"), **error_set(*BODY, 404, *PUBLIC)},
                examples=[
                    OpenApiExample(
                        "video",
                        value={"model": "sandbox/video", "duration": 5, "max_credits": 100000},
                        request_only=True,
                    )
                ],
            )
            def post(self, request: Any) -> Any:
                return super().post(request)

        return Fixed
