"""The building blocks of the operation schemas (surfaces, info, keys, credits, media):
named components made from raw JSON schemas, a few schema shorthands, the headers of a
billable POST and the error sets of each kind of endpoint.

A body the gateway passes through (an upstream's answer, a request's unknown fields) is an
object that allows additional properties; a field the code may leave null is nullable. The
document is OpenAPI 3.1, so a schema is JSON Schema 2020-12: ``{"type": ["string", "null"]}``.
"""

from __future__ import annotations

import copy
from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.parsers import JSONParser

from gateway.api.schema.components import errors

Schema = dict[str, Any]
# what a POST view's schema says it reads (the views parse their bodies themselves)
JSON_PARSERS = [JSONParser]

STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
NUM: Schema = {"type": "number"}
BOOL: Schema = {"type": "boolean"}
ANY_OBJECT: Schema = {"type": "object", "additionalProperties": True}
UNIX: Schema = {"type": "integer", "description": "Unix seconds"}
ISO: Schema = {"type": "string", "format": "date-time"}
CREDITS: Schema = {"type": "integer", "description": "credits (1,000,000 = 1 USD)"}
# what a JSON body may hold where the gateway reads nothing of it
ANY: Schema = {}


def nullable(schema: Schema) -> Schema:
    """The schema, or null."""
    kind = schema.get("type")
    if isinstance(kind, str) and "enum" not in schema:
        return {**schema, "type": [kind, "null"]}
    if isinstance(kind, list) and "null" not in kind:
        return {**schema, "type": [*kind, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def enum(*values: str, null: bool = False, **extra: Any) -> Schema:
    schema: Schema = {"type": "string", "enum": list(values), **extra}
    if null:
        return {"type": ["string", "null"], "enum": [*values, None], **extra}
    return schema


def array(items: Schema, **extra: Any) -> Schema:
    return {"type": "array", "items": items, **extra}


def obj(
    properties: dict[str, Schema],
    required: tuple[str, ...] = (),
    *,
    extra: bool | Schema = True,
    **more: Any,
) -> Schema:
    """An object with these properties (``extra``: what else it may hold)."""
    schema: Schema = {"type": "object", "properties": properties, **more}
    if required:
        schema["required"] = list(required)
    schema["additionalProperties"] = extra
    return schema


def optional(properties: dict[str, Schema]) -> dict[str, Schema]:
    """Properties a validator checks only when they are not null: each may be null too."""
    return {name: nullable(schema) for name, schema in properties.items()}


def component(name: str, schema: Schema, description: str = "") -> type[serializers.Serializer]:
    """A named component (``#/components/schemas/<name>``) holding a raw JSON schema: an
    empty serializer class whose ``OpenApiSerializerExtension`` answers the schema."""
    body = copy.deepcopy(schema)
    if description:
        body.setdefault("description", description)
    target = type(name, (serializers.Serializer,), {"__module__": __name__, "__doc__": ""})

    def map_serializer(self: Any, auto_schema: Any, direction: Any) -> Schema:
        return copy.deepcopy(body)

    def get_name(self: Any, auto_schema: Any, direction: Any) -> str:
        # COMPONENT_SPLIT_REQUEST appends "Request" to a request body's name itself
        return name.removesuffix("Request") if direction == "request" else name

    type(
        f"{name}Schema",
        (OpenApiSerializerExtension,),
        {"target_class": target, "map_serializer": map_serializer, "get_name": get_name},
    )
    return target


def ok(
    schema: type[serializers.Serializer] | Schema, description: str, **kw: Any
) -> OpenApiResponse:
    return OpenApiResponse(response=schema, description=description, **kw)


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7E]+$"},
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "Safe retries: the same key and the same body within 24 h replay the stored answer "
        "(status, body, X-Request-Id) with `Idempotent-Replayed: true` and charge nothing "
        "more. Another body with the same key, or a request still in flight with it, is 409. "
        "Scoped to the API key; 1 to 255 printable ASCII characters."
    ),
)

# The refusals of every endpoint that takes a key: the key (401), its kind, account or
# allowlists (403), its rate limit (429); 500 and 503 (the database pool) anywhere.
KEYED = (401, 403, 429, 500, 503)
# a POST's body: not JSON or a bad field (400), no length (411), too large (413)
BODY = (400, 411, 413)
# a billed request: credits or limits (402), the model (404), the Idempotency-Key (409),
# the provider (502, 503)
BILLED = (*KEYED, *BODY, 402, 404, 409, 502)
PUBLIC = (500, 503)


def error_set(*statuses: int, anthropic: bool = False) -> dict[int, OpenApiResponse]:
    return errors(*sorted(set(statuses)), anthropic=anthropic)
