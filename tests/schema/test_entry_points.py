"""The entry points around the document: the Markdown reference, llms.txt, auth.md, the RFC
9727 api-catalog (GET and HEAD), and the console's API reference page; through the project's
own handler (the API's middleware chain) on a live server too."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
import requests
from django.test import Client

from gateway.api.schema.document import operations

pytestmark = pytest.mark.django_db
LINKSET = "application/linkset+json"


def test_the_markdown_reference_lists_every_operation() -> None:
    response = Client().get("/api-docs/index.md")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    text = response.content.decode()
    ops = operations()
    assert len(ops) >= 24
    for method, path, _ in ops:
        assert f"\n## {method} {path}\n" in text, (method, path)
    assert text.count("### Responses") == len(ops)
    keys = text.split("\n## POST /v1/keys\n", 1)[1].split("\n## ", 1)[0]
    assert "- Auth: bearerAuth or apiKeyAuth" in keys
    assert "### Request body: " in keys and "| `name` | string | yes |" in keys
    assert "| 401 | Error |" in keys
    models = text.split("\n## GET /v1/models\n", 1)[1].split("\n## ", 1)[0]
    assert "- Auth: public" in models


def test_llms_txt_follows_llmstxt_org() -> None:
    response = Client().get("/llms.txt")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    lines = response.content.decode().splitlines()
    assert lines[0].startswith("# ") and len(lines[0]) > 2
    assert next(line for line in lines[1:] if line).startswith("> ")
    sections = [line for line in lines if line.startswith("## ")]
    assert "## Docs" in sections and "## Optional" in sections
    links = re.findall(r"^- \[[^\]]+\]\((http://testserver[^)]+)\)", "\n".join(lines), re.M)
    paths = {link.removeprefix("http://testserver") for link in links}
    assert {"/api-docs/index.md", "/openapi.json", "/auth.md"} <= paths


def test_auth_md_names_both_headers_the_key_kinds_and_the_errors() -> None:
    response = Client().get("/auth.md")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    text = response.content.decode()
    assert "Authorization: Bearer sk-" in text and "x-api-key: sk-" in text
    assert "take no key: `POST /v1/credits/estimate`, `GET /v1/credits/packs`," in text
    assert "Inference keys" in text and "Management keys" in text and "--management" in text
    for status, code in [
        (401, "invalid_api_key"),
        (401, "key_expired"),
        (403, "management_key_not_allowed"),
        (403, "management_key_required"),
        (403, "ip_not_allowed"),
        (402, "key_limit_exceeded"),
        (429, "rate_limited"),
    ]:
        assert f"| {status} | `{code}` |" in text, code


def test_api_catalog_is_an_rfc_9727_linkset() -> None:
    client = Client()
    response = client.get("/.well-known/api-catalog")
    assert response.status_code == 200
    assert response["Content-Type"].split(";")[0] == LINKSET
    assert 'rel="api-catalog"' in response["Link"]
    (entry,) = orjson.loads(response.content)["linkset"]
    assert entry["anchor"] == "http://testserver/v1/"
    assert entry["service-desc"] == [
        {"href": "http://testserver/openapi.json", "type": "application/openapi+json"}
    ]
    assert entry["service-doc"][0]["href"] == "http://testserver/api-docs/index.md"
    assert entry["status"][0]["href"] == "http://testserver/healthz"
    for rel in ("service-desc", "service-doc", "status"):
        path = entry[rel][0]["href"].removeprefix("http://testserver")
        assert client.get(path).status_code == 200, rel
    head = client.head("/.well-known/api-catalog")
    assert head.status_code == 200 and head.content == b""
    assert head["Content-Type"].split(";")[0] == LINKSET
    assert client.post("/.well-known/api-catalog").status_code == 405


def test_the_console_reference_page_renders_the_document_without_outside_assets() -> None:
    response = Client().get("/docs/api/")
    assert response.status_code == 200
    html = response.content.decode()
    for method, path, _op in operations():
        assert f'data-operation="{method} {path}"' in html, (method, path)
    assert html.count('class="card ref-op"') == len(operations())
    assert 'href="/docs/api/" aria-current="page">API reference' in html
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/") for s in sources), sources


def test_the_entry_points_through_the_api_chain(live_server: Any) -> None:
    """gunicorn's handler (config.handler): the API's short middleware chain, no session."""
    for path, kind in [
        ("/openapi.json", "application/json"),
        ("/api-docs/index.md", "text/markdown"),
        ("/llms.txt", "text/plain"),
        ("/auth.md", "text/markdown"),
        ("/.well-known/api-catalog", LINKSET),
    ]:
        response = requests.get(live_server.url + path, timeout=30)
        assert response.status_code == 200, path
        assert response.headers["Content-Type"].startswith(kind), path
        assert "Set-Cookie" not in response.headers, path
        assert response.headers["X-Request-Id"], path
    catalog = requests.get(live_server.url + "/.well-known/api-catalog", timeout=30).json()
    assert catalog["linkset"][0]["anchor"] == f"{live_server.url}/v1/"


ENTRY_POINTS = [
    "/openapi.json",
    "/api-docs/index.md",
    "/llms.txt",
    "/auth.md",
    "/.well-known/api-catalog",
]


def test_the_entry_points_refuse_what_they_do_not_answer(live_server: Any) -> None:
    """Writes are 405 with Allow, a host not allowed is 400, odd queries change nothing;
    never a 500."""
    for path in ENTRY_POINTS:
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            response = requests.request(method, live_server.url + path, data=b"{}", timeout=30)
            assert response.status_code == 405, (method, path)
            assert set(response.headers["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}
        evil = requests.get(live_server.url + path, headers={"Host": "evil.example"}, timeout=30)
        assert evil.status_code == 400, path
        odd = requests.get(f"{live_server.url}{path}?x=%00&y=%ff%fe", timeout=30)
        assert odd.status_code == 200, path
