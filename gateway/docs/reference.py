"""The generated document read as a reference: each operation's method, path, summary,
parameters, request body fields, responses and auth, for the Markdown and the HTML page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.safestring import SafeString

from gateway.api.schema.document import document, operations
from gateway.docs.inline import inline_html


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    required: bool
    description: str

    @property
    def description_html(self) -> SafeString:
        return inline_html(self.description)


@dataclass(frozen=True)
class Response:
    status: str
    description: str
    schema: str  # the body's component or type name ("" for none)

    @property
    def description_html(self) -> SafeString:
        return inline_html(self.description)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    description: str
    tag: str
    auth: str  # "bearerAuth or apiKeyAuth", or "public"
    parameters: tuple[Field, ...]
    body: tuple[Field, ...]
    body_type: str
    responses: tuple[Response, ...]

    @property
    def description_html(self) -> SafeString:
        return inline_html(self.description)

    @property
    def anchor(self) -> str:
        return self.operation_id.replace("_", "-")


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        return document()["components"]["schemas"].get(ref.rsplit("/", 1)[1], {})
    return schema


def type_name(schema: dict[str, Any]) -> str:
    """A short name of a schema's type: its component, ``array of X``, or its JSON type."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[1]
    for combinator in ("oneOf", "anyOf", "allOf"):
        if combinator in schema:
            return " | ".join(type_name(s) for s in schema[combinator])
    kind = schema.get("type", "object" if "properties" in schema else "any")
    if isinstance(kind, list):
        items = f" of {type_name(schema['items'])}" if "items" in schema else ""
        return " | ".join(f"{k}{items}" if k == "array" else k for k in kind)
    if kind == "array":
        return f"array of {type_name(schema.get('items', {}))}"
    if "enum" in schema:
        return " | ".join(f"`{v}`" if v is not None else "null" for v in schema["enum"])
    return kind + (f" ({schema['format']})" if "format" in schema else "")


def _fields(schema: dict[str, Any]) -> tuple[Field, ...]:
    schema = _resolve(schema)
    required = set(schema.get("required", []))
    return tuple(
        Field(name, type_name(sub), name in required, _resolve(sub).get("description", ""))
        for name, sub in schema.get("properties", {}).items()
    )


def _auth(operation: dict[str, Any]) -> str:
    names = [name for requirement in operation.get("security", []) for name in requirement]
    return " or ".join(names) if names else "public"


def _operation(method: str, path: str, op: dict[str, Any]) -> Operation:
    params = tuple(
        Field(
            f"{p['name']} ({p['in']})",
            type_name(p.get("schema", {})),
            bool(p.get("required")),
            p.get("description", ""),
        )
        for p in op.get("parameters", [])
    )
    content = op.get("requestBody", {}).get("content", {})
    media, body = next(iter(content.items()), ("", {}))
    schema = body.get("schema", {})
    responses = []
    for status, response in op.get("responses", {}).items():
        media_types = response.get("content", {})
        schemas = [type_name(m.get("schema", {})) for m in media_types.values()]
        responses.append(Response(status, response.get("description", ""), ", ".join(schemas)))
    return Operation(
        method=method,
        path=path,
        operation_id=op.get("operationId", f"{method}-{path}"),
        summary=op.get("summary", ""),
        description=op.get("description", ""),
        tag=(op.get("tags") or [""])[0],
        auth=_auth(op),
        parameters=params,
        body=_fields(schema) if schema else (),
        body_type=f"{type_name(schema)} ({media})" if schema else "",
        responses=tuple(responses),
    )


def reference() -> list[Operation]:
    return [_operation(m, p, op) for m, p, op in operations()]
