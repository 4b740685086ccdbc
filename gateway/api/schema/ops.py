"""Operation schemas of ``/v1/pricing`` (public; gateway/api/pricing.py) and
``/v1/models/catalog`` (a management key or a staff session; gateway/api/catalog_api.py)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.utils import extend_schema

from gateway.api.schema.parts import (
    BOOL,
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

DECIMAL = {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$"}
PRICE = obj(
    {
        "unit": enum("token", "request", "image", "second"),
        "credits": DECIMAL,
        "usd": DECIMAL,
        "usd_per_million": {**DECIMAL, "description": "token units only"},
    },
    ("unit", "credits", "usd"),
    extra=False,
)
Pricing = component(
    "Pricing",
    obj(
        {
            "object": enum("pricing"),
            "credits_per_usd": INT,
            "minimum_charge": obj({"credits": INT, "usd": DECIMAL}, ("credits", "usd")),
            "fallback": obj({}, extra=PRICE),
            "data": array(
                obj(
                    {"id": STR, "name": STR, "is_free": BOOL, "prices": obj({}, extra=PRICE)},
                    ("id", "name", "is_free", "prices"),
                )
            ),
        },
        ("object", "credits_per_usd", "minimum_charge", "fallback", "data"),
    ),
    "Every amount is exact decimal text.",
)
HEALTH = obj(
    {
        "state": enum("closed", "open"),
        "failures": INT,
        "open_until": nullable({"type": "string", "format": "date-time"}),
    },
    ("state", "failures", "open_until"),
)
ROUTE = obj(
    {
        "id": INT,
        "provider": STR,
        "provider_enabled": BOOL,
        "upstream_model": STR,
        "priority": INT,
        "weight": INT,
        "enabled": BOOL,
        "health": HEALTH,
    },
    ("id", "provider", "upstream_model", "priority", "weight", "enabled", "health"),
)
Catalog = component(
    "ModelCatalog",
    obj(
        {
            "object": enum("list"),
            "data": array(
                obj(
                    {
                        "id": STR,
                        "name": STR,
                        "enabled": BOOL,
                        "aliases": array(STR),
                        "routes": array(ROUTE),
                    },
                    ("id", "name", "enabled", "aliases", "routes"),
                )
            ),
        },
        ("object", "data"),
    ),
)


class PricingSchema(OpenApiViewExtension):
    target_class = "gateway.api.pricing.PricingView"

    def view_replacement(self) -> type:
        class Fixed(self.target_class):  # type: ignore[name-defined,misc]
            @extend_schema(
                tags=["models"],
                summary="Every enabled model's prices, the fallback prices, the minimum charge",
                responses={200: ok(Pricing, "The prices"), **error_set(*PUBLIC)},
            )
            def get(self, request: Any) -> Any:
                return super().get(request)

        return Fixed


class CatalogSchema(OpenApiViewExtension):
    target_class = "gateway.api.catalog_api.ModelsCatalogView"

    def view_replacement(self) -> type:
        class Fixed(self.target_class):  # type: ignore[name-defined,misc]
            @extend_schema(
                tags=["models"],
                summary="Every model with its routes and their health (management key or staff)",
                responses={200: ok(Catalog, "The catalog"), **error_set(*KEYED)},
            )
            def get(self, request: Any) -> Any:
                return super().get(request)

        return Fixed
