"""Operation schemas of ``/v1/keys`` and ``/v1/keys/{key_hash}`` (a management key; the
bodies as gateway/api/keys_shape.py checks them: unknown fields refused)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema

from gateway.api.schema.parts import (
    BODY,
    BOOL,
    INT,
    JSON_PARSERS,
    KEYED,
    NUM,
    STR,
    array,
    component,
    enum,
    error_set,
    nullable,
    obj,
    ok,
)

ISO = {"type": "string", "format": "date-time"}
USD = nullable(NUM)
CREDITS = nullable(INT)
KEY = obj(
    {
        "hash": STR,
        "name": STR,
        "label": STR,
        "disabled": BOOL,
        "is_management_key": BOOL,
        "limit": USD,
        "limit_remaining": USD,
        "limit_reset": enum("daily", "weekly", "monthly", null=True),
        "usage": NUM,
        "usage_daily": NUM,
        "usage_weekly": NUM,
        "usage_monthly": NUM,
        "limit_credits": CREDITS,
        "limit_remaining_credits": CREDITS,
        "usage_credits": INT,
        "usage_daily_credits": INT,
        "usage_weekly_credits": INT,
        "usage_monthly_credits": INT,
        "allowed_models": nullable(array(STR)),
        "allowed_ips": nullable(array(STR)),
        "rate_limit_rpm": nullable(INT),
        "created_at": ISO,
        "updated_at": ISO,
        "expires_at": nullable(ISO),
    },
    ("hash", "name", "label", "disabled", "limit", "limit_remaining", "limit_reset", "usage"),
)
_STRINGS = nullable(
    array(
        {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[^\\x00]*$"}, maxItems=100
    )
)
_FIELDS = {
    "name": {
        "type": "string",
        "minLength": 1,
        "maxLength": 100,
        "pattern": "^[^\\x00]*\\S[^\\x00]*$",
    },
    "limit": nullable({"type": "number", "minimum": 0, "maximum": 1_000_000}),
    # null or "never": the limit never resets (answers show null)
    "limit_reset": enum("daily", "weekly", "monthly", "never", null=True),
    "expires_at": nullable({**ISO, "description": "ISO 8601, in the future"}),
    "allowed_models": _STRINGS,
    # an address (a CIDR such as 10.0.0.0/8 is taken too)
    "allowed_ips": nullable(
        array(
            {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]},
            maxItems=100,
            description="addresses or CIDRs (10.0.0.0/8)",
        )
    ),
    "rate_limit_rpm": nullable({"type": "integer", "minimum": 1, "maximum": 1_000_000}),
}
KeyCreate = component("KeyCreateRequest", obj(_FIELDS, ("name",), extra=False))
KeyPatch = component(
    "KeyPatchRequest", obj({**_FIELDS, "disabled": BOOL}, extra=False, minProperties=0)
)
KeyCreated = component(
    "KeyCreated",
    obj(
        {"data": KEY, "key": {**STR, "description": "shown once"}},
        ("data", "key"),
    ),
)
KeyOne = component("KeyOne", obj({"data": KEY}, ("data",)))
KeyList = component("KeyList", obj({"data": array(KEY)}, ("data",)))
KeyDeleted = component(
    "KeyDeleted",
    obj({"data": obj({"success": {"type": "boolean", "enum": [True]}}, ("success",))}, ("data",)),
)
HASH = OpenApiParameter(
    "key_hash", str, OpenApiParameter.PATH, description="The key's hash (its public prefix)"
)


def _page(name: str, high: int, default: int) -> OpenApiParameter:
    return OpenApiParameter(
        name,
        {"type": "integer", "minimum": 0, "maximum": high, "default": default},
        OpenApiParameter.QUERY,
        required=False,
    )


class KeysSchema(OpenApiViewExtension):
    target_class = "gateway.api.keys.KeysView"

    def view_replacement(self) -> type:
        class Fixed(self.target_class):  # type: ignore[name-defined,misc]
            parser_classes = JSON_PARSERS

            @extend_schema(
                tags=["keys"],
                summary="List the account's keys (management key)",
                parameters=[_page("offset", 1_000_000, 0), _page("limit", 100, 100)],
                responses={200: ok(KeyList, "The keys, newest first"), **error_set(400, *KEYED)},
            )
            def get(self, request: Any) -> Any:
                return super().get(request)

            @extend_schema(
                tags=["keys"],
                summary="Create an inference key (management key); the key is shown once",
                request=KeyCreate,
                responses={201: ok(KeyCreated, "The key"), **error_set(*BODY, *KEYED)},
                examples=[
                    OpenApiExample(
                        "daily",
                        value={"name": "ci", "limit": 5, "limit_reset": "daily"},
                        request_only=True,
                    )
                ],
            )
            def post(self, request: Any) -> Any:
                return super().post(request)

        return Fixed


class KeyDetailSchema(OpenApiViewExtension):
    target_class = "gateway.api.keys.KeyDetailView"

    def view_replacement(self) -> type:
        class Fixed(self.target_class):  # type: ignore[name-defined,misc]
            parser_classes = JSON_PARSERS

            @extend_schema(
                tags=["keys"],
                summary="One key",
                parameters=[HASH],
                responses={200: ok(KeyOne, "The key"), **error_set(404, *KEYED)},
            )
            def get(self, request: Any, key_hash: str) -> Any:
                return super().get(request, key_hash)

            @extend_schema(
                tags=["keys"],
                summary="Change a key (name, disabled, limit, limit_reset, expires_at, allowlists)",
                description="Disabling revokes the key, as the console does, and is final: "
                "`disabled: false` on a revoked key is 409 `key_revoked`.",
                parameters=[HASH],
                request=KeyPatch,
                responses={200: ok(KeyOne, "The key"), **error_set(404, 409, *BODY, *KEYED)},
                examples=[OpenApiExample("disable", value={"disabled": True}, request_only=True)],
            )
            def patch(self, request: Any, key_hash: str) -> Any:
                return super().patch(request, key_hash)

            @extend_schema(
                tags=["keys"],
                summary="Revoke a key (its row and history stay, disabled)",
                parameters=[HASH],
                responses={200: ok(KeyDeleted, "Revoked"), **error_set(404, *KEYED)},
            )
            def delete(self, request: Any, key_hash: str) -> Any:
                return super().delete(request, key_hash)

        return Fixed
