"""The entry points' views: public, read-only, answered from the document generated once
per process (gateway.api.schema.document)."""

from __future__ import annotations

import orjson
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from gateway.api.schema.document import document, document_json
from gateway.docs.inline import inline_html
from gateway.docs.markdown import api_markdown, auth_markdown, llms_txt
from gateway.docs.reference import reference

MARKDOWN = "text/markdown; charset=utf-8"
LINKSET = "application/linkset+json"


def _origin(request: HttpRequest) -> str:
    return request.build_absolute_uri("/").rstrip("/")


def _answer(request: HttpRequest, body: bytes | str, content_type: str) -> HttpResponse:
    """The body; for HEAD its headers only (gunicorn, unlike Django's own server, would
    send a body and then drop it with a warning)."""
    response = HttpResponse(b"" if request.method == "HEAD" else body, content_type=content_type)
    response["Cache-Control"] = "public, max-age=300"
    return response


@csrf_exempt  # no cookie is read: a write is 405, not a CSRF 403
@require_safe
def openapi_json(request: HttpRequest) -> HttpResponse:
    return _answer(request, document_json(), "application/json")


@csrf_exempt  # no cookie is read: a write is 405, not a CSRF 403
@require_safe
def api_docs_markdown(request: HttpRequest) -> HttpResponse:
    return _answer(request, api_markdown(), MARKDOWN)


@csrf_exempt  # no cookie is read: a write is 405, not a CSRF 403
@require_safe
def llms(request: HttpRequest) -> HttpResponse:
    return _answer(request, llms_txt(_origin(request)), "text/plain; charset=utf-8")


@csrf_exempt  # no cookie is read: a write is 405, not a CSRF 403
@require_safe
def auth(request: HttpRequest) -> HttpResponse:
    return _answer(request, auth_markdown(_origin(request)), MARKDOWN)


@csrf_exempt  # no cookie is read: a write is 405, not a CSRF 403
@require_safe
def api_catalog(request: HttpRequest) -> HttpResponse:
    """RFC 9727: the API's linkset (RFC 9264), with the profile link the RFC registers.
    HEAD gets the headers only."""
    origin = _origin(request)
    linkset = {
        "linkset": [
            {
                "anchor": f"{origin}/v1/",
                "service-desc": [
                    {"href": f"{origin}/openapi.json", "type": "application/openapi+json"}
                ],
                "service-doc": [{"href": f"{origin}/api-docs/index.md", "type": "text/markdown"}],
                "status": [{"href": f"{origin}/healthz", "type": "application/json"}],
            }
        ]
    }
    response = _answer(
        request,
        orjson.dumps(linkset),
        f'{LINKSET}; profile="https://www.rfc-editor.org/info/rfc9727"',
    )
    response["Link"] = (
        f'<{origin}/.well-known/api-catalog>; rel="api-catalog", '
        '<https://www.rfc-editor.org/info/rfc9727>; rel="profile"'
    )
    return response


@require_safe
def reference_page(request: HttpRequest) -> HttpResponse:
    """The console's API reference: the same document in HTML, server-rendered."""
    ops = reference()
    tags = {t["name"]: t.get("description", "") for t in document().get("tags", [])}
    groups: dict[str, list] = {}
    for op in ops:
        groups.setdefault(op.tag or "other", []).append(op)
    return render(
        request,
        "docs/reference.html",
        {
            "info": document()["info"],
            "description_html": inline_html(document()["info"].get("description", "")),
            "groups": [(tag, tags.get(tag, ""), items) for tag, items in groups.items()],
            "here": "api-reference",
        },
    )
