"""The OpenAPI document: valid OpenAPI 3.1, every /v1 route of the URLconf once (the /api/v1
mirror never), each operation keyed by bearerAuth or apiKeyAuth or explicitly public, the
error components, and served from a per-process cache."""

from __future__ import annotations

import time
from typing import Any

import jsonschema
import orjson
import pytest
from django.test import Client
from drf_spectacular.validation import validate_schema
from rest_framework.views import APIView

from gateway import urls as v1_urls
from gateway.api.files import file_get
from gateway.api.schema.document import document, openapi_path

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")
KEYED = [{"bearerAuth": []}, {"apiKeyAuth": []}]


def routed_operations() -> set[tuple[str, str]]:
    """(METHOD, /v1 path) of every route in gateway/urls.py, from its view: an APIView's
    handlers, or GET for the file download function; the bare prefix's 404 aside."""
    found = set()
    for pattern in v1_urls.urlpatterns:
        route = str(pattern.pattern)
        if not route:
            continue
        view = pattern.callback
        cls = getattr(view, "cls", None)
        if cls is not None and issubclass(cls, APIView):
            methods = [m for m in METHODS if hasattr(cls, m)]
        else:
            assert view is file_get, f"an unknown function view at {route}"
            methods = ["get"]
        found |= {(m.upper(), openapi_path(route)) for m in methods}
    return found


def documented_operations(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method in item
        if method in METHODS
    }


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = document()
    assert doc["openapi"] == "3.1.0"
    validate_schema(doc)  # the OAS 3.1 meta-schema, bundled by drf-spectacular
    for schema in doc["components"]["schemas"].values():  # each a JSON Schema 2020-12
        jsonschema.Draft202012Validator.check_schema(schema)
    assert doc["info"]["title"] and doc["info"]["version"]
    assert {t["name"] for t in doc["tags"]} >= {"chat", "media", "keys", "credits", "models"}


def test_every_v1_route_is_documented_once_and_nothing_else() -> None:
    doc = document()
    routed = routed_operations()
    assert len(routed) >= 24
    assert documented_operations(doc) == routed
    assert all(path.startswith("/v1/") for path in doc["paths"])
    ids = [op["operationId"] for p in doc["paths"].values() for m, op in p.items() if m in METHODS]
    assert len(ids) == len(set(ids))


def test_each_operation_is_keyed_or_explicitly_public() -> None:
    doc = document()
    public = set()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            assert "security" in op, (method, path)
            assert op["security"] in (KEYED, []), (method, path, op["security"])
            if op["security"] == []:
                public.add(f"{method.upper()} {path}")
    assert public == {
        "GET /v1/models",
        "GET /v1/models/{model_id}",
        "GET /v1/credits/packs",
        "POST /v1/credits/estimate",
        "GET /v1/files/{token}",
        *(f"GET {p}" for p in ("/v1/pricing",) if p in doc["paths"]),
    }


def test_both_auth_schemes_and_the_error_component() -> None:
    components = document()["components"]
    assert components["securitySchemes"]["bearerAuth"]["type"] == "http"
    assert components["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    api_key = components["securitySchemes"]["apiKeyAuth"]
    assert (api_key["type"], api_key["in"], api_key["name"]) == ("apiKey", "header", "x-api-key")
    error = components["schemas"]["Error"]
    assert error["required"] == ["error"]
    detail = components["schemas"]["ErrorDetail"]
    assert set(detail["properties"]) == {"message", "type", "code", "param"}


def test_openapi_json_is_the_cached_document() -> None:
    client = Client()
    first = client.get("/openapi.json")
    assert first.status_code == 200
    assert first["Content-Type"] == "application/json"
    assert orjson.loads(first.content) == orjson.loads(orjson.dumps(document()))
    started = time.monotonic()
    for _ in range(20):
        assert client.get("/openapi.json").status_code == 200
    assert (time.monotonic() - started) / 20 < 0.05  # no generation per request
    assert client.post("/openapi.json").status_code == 405
