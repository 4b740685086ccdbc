"""The OpenAPI 3.1 document of /v1, generated once per process from the views.

drf-spectacular walks the URLconf; ``keep_v1`` keeps each operation once, under ``/v1``
(the ``/api/v1`` mirror and every non-API path dropped), and adds the endpoints that are
plain Django functions (``gateway.api.schema.files``). ``mark_public`` gives an operation
without a key ``security: []``, so every operation says how it is authenticated.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from functools import cache
from typing import Any

import orjson

import gateway.api.schema as package

V1 = "/v1/"
_METHODS = {"get", "post", "put", "patch", "delete", "head"}


def _import_modules() -> None:
    """Every module of the package: their extensions register on import."""
    for info in pkgutil.iter_modules(package.__path__):
        if info.name != "document":
            importlib.import_module(f"{package.__name__}.{info.name}")


def keep_v1(endpoints: list[tuple[Any, ...]], **kwargs: Any) -> list[tuple[Any, ...]]:
    """SPECTACULAR_SETTINGS PREPROCESSING_HOOKS: the /v1 operations only, each once."""
    from gateway.api.schema.files import extra_endpoints

    kept = [e for e in endpoints if e[0].startswith(V1)]
    return kept + extra_endpoints()


def mark_public(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """SPECTACULAR_SETTINGS POSTPROCESSING_HOOKS: ``security: []`` on the public operations
    (no key taken) so none is left unsaid."""
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            # spectacular's [{}] ("anonymous allowed") for AllowAny: said as []
            if method in _METHODS and operation.get("security", [{}]) == [{}]:
                operation["security"] = []
    return result


@cache
def document() -> dict[str, Any]:
    """The document (a dict), generated on first use and kept for the process."""
    from drf_spectacular.generators import SchemaGenerator

    _import_modules()
    return SchemaGenerator().get_schema(request=None, public=True)


@cache
def document_json() -> bytes:
    return orjson.dumps(document())


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    """(METHOD, path, operation) for every operation, in the document's order."""
    out = []
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            if method in _METHODS:
                out.append((method.upper(), path, operation))
    return out


_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")


def openapi_path(route: str) -> str:
    """A URLconf route (``keys/<str:key_hash>``) as an OpenAPI path (``/v1/keys/{key_hash}``)."""
    return V1 + _CONVERTER.sub(r"{\1}", route)
