"""The operation schemas match the code: real answers of every area (the sandbox models,
local and free; the Django test client) validate against the document's schema for their
operation and status, errors included, and what the document requires the answers have."""

from __future__ import annotations

from typing import Any

import jsonschema
import orjson
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from accounts.services import apikey_create
from catalog.models import Model, Provider, Route
from catalog.selectors import catalog_invalidate
from gateway.api.schema.document import document
from tests.factories import Account, AccountFactory
from tests.helpers import ApiClient

pytestmark = pytest.mark.usefixtures("transactional_db")
DOC = "urn:gateway:openapi"


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def check(method: str, path: str, resp: Any, *, status: int | None = None) -> Any:
    """The answer's body, validated against the document's schema for this operation, its
    status and its content type; the status must be documented."""
    doc = document()
    code = str(resp.status_code)
    if status is not None:
        assert resp.status_code == status, resp.content[:500]
    operation = doc["paths"][path][method.lower()]
    assert code in operation["responses"], f"{method} {path} answers undocumented {code}"
    media = resp["Content-Type"].split(";")[0]
    content = operation["responses"][code]["content"]
    assert media in content, f"{method} {path} {code}: {media} not documented"
    body = orjson.loads(resp.content) if media == "application/json" else None
    if body is None:
        return b"".join(resp.streaming_content) if resp.streaming else resp.content
    registry = Registry().with_resource(DOC, Resource.from_contents(doc, DRAFT202012))
    ref = "#/" + _pointer("paths", path, method.lower(), "responses", code, "content", media)
    validator = jsonschema.Draft202012Validator({"$ref": f"{DOC}{ref}/schema"}, registry=registry)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
    assert not errors, f"{method} {path} {code}: {errors[:5]}"
    return body


@pytest.fixture
def sandbox(db: None) -> None:
    provider = Provider.objects.create(slug="sandbox", name="Sandbox", dialect="sandbox")
    for public_id, output in (
        ("sandbox/echo", "text"),
        ("sandbox/image", "image"),
        ("sandbox/video", "video"),
        ("sandbox/music", "audio"),
    ):
        model = Model.objects.create(
            public_id=public_id, name=public_id, output_modalities=[output], price_request=0
        )
        Route.objects.create(model=model, provider=provider, upstream_model=public_id)
    catalog_invalidate()


@pytest.fixture
def account(make_account: AccountFactory, sandbox: None) -> Account:
    return make_account(1_000_000)


CHAT = {"model": "sandbox/echo", "messages": [{"role": "user", "content": "Hello there"}]}


def test_the_text_surfaces(api: ApiClient, account: Account) -> None:
    body = check(
        "POST",
        "/v1/chat/completions",
        api.post("/v1/chat/completions", CHAT, account=account),
        status=200,
    )
    assert (
        body["object"] == "chat.completion" and body["usage"]["cost"] == 100
    )  # the minimum charge
    check(
        "POST",
        "/v1/chat/completions",
        api.post("/v1/chat/completions", {**CHAT, "stream": True}, account=account),
        status=200,
    )
    prompt = {"model": "sandbox/echo", "prompt": "Say hi"}
    check(
        "POST", "/v1/completions", api.post("/v1/completions", prompt, account=account), status=200
    )
    responses = {"model": "sandbox/echo", "input": "Hello"}
    out = check(
        "POST", "/v1/responses", api.post("/v1/responses", responses, account=account), status=200
    )
    assert out["object"] == "response" and out["status"] in ("completed", "incomplete")
    msg = {
        "model": "sandbox/echo",
        "max_tokens": 32,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    out = check("POST", "/v1/messages", api.post("/v1/messages", msg, account=account), status=200)
    assert out["type"] == "message" and out["usage"]["cost"] == 100
    counted = api.post(
        "/v1/messages/count_tokens",
        {k: v for k, v in msg.items() if k != "max_tokens"},
        account=account,
    )
    assert check("POST", "/v1/messages/count_tokens", counted, status=200)["input_tokens"] > 0
    record = api.get(f"/v1/generation?id={body['id']}", account=account)
    assert check("GET", "/v1/generation", record, status=200)["data"]["id"] == body["id"]


def test_the_errors(api: ApiClient, account: Account) -> None:
    check("POST", "/v1/chat/completions", api.post("/v1/chat/completions", CHAT), status=401)
    bad = {**CHAT, "temperature": 5}
    err = check(
        "POST",
        "/v1/chat/completions",
        api.post("/v1/chat/completions", bad, account=account),
        status=400,
    )
    assert err["error"]["param"] == "temperature"
    missing = {**CHAT, "model": "no/such-model"}
    check(
        "POST",
        "/v1/chat/completions",
        api.post("/v1/chat/completions", missing, account=account),
        status=404,
    )
    # under /v1/messages the errors are Anthropic's
    err = check(
        "POST",
        "/v1/messages",
        api.post("/v1/messages", {"model": "x"}, account=account),
        status=400,
    )
    assert err["type"] == "error"
    check(
        "POST",
        "/v1/embeddings",
        api.post("/v1/embeddings", {"model": "sandbox/echo"}, account=account),
        status=400,
    )
    check(
        "GET", "/v1/generation", api.get("/v1/generation?id=gen-none", account=account), status=404
    )
    check("GET", "/v1/tasks/{task_id}", api.get("/v1/tasks/task_nope", account=account), status=404)
    check("GET", "/v1/models", api.get("/v1/models?output_modalities=smell"), status=400)
    check("GET", "/v1/models/{model_id}", api.get("/v1/models/no/such"), status=404)
    broke = {**CHAT, "model": "sandbox/echo"}
    made = api.post("/v1/chat/completions", broke, account=account, HTTP_IDEMPOTENCY_KEY="k1")
    check("POST", "/v1/chat/completions", made, status=200)
    other = api.post(
        "/v1/chat/completions", {**broke, "seed": 1}, account=account, HTTP_IDEMPOTENCY_KEY="k1"
    )
    check("POST", "/v1/chat/completions", other, status=409)


def test_models_credits_and_keys(api: ApiClient, account: Account) -> None:
    listed = check("GET", "/v1/models", api.get("/v1/models"), status=200)
    assert {m["id"] for m in listed["data"]} >= {"sandbox/echo", "sandbox/image"}
    check("GET", "/v1/models/{model_id}", api.get("/v1/models/sandbox/echo"), status=200)
    check("GET", "/v1/pricing", api.get("/v1/pricing"), status=200)
    check("GET", "/v1/credits/packs", api.get("/v1/credits/packs"), status=200)
    check("GET", "/v1/credits", api.get("/v1/credits", account=account), status=200)
    check("GET", "/v1/key", api.get("/v1/key", account=account), status=200)
    estimate = {"model": "sandbox/video", "duration": 5, "max_credits": 10}
    est = check(
        "POST", "/v1/credits/estimate", api.post("/v1/credits/estimate", estimate), status=200
    )
    assert est["within_budget"] is True
    manager = apikey_create(user=account.user, name="m", kind="management", ignore_tier=True)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {manager.secret}"}
    made = check(
        "POST",
        "/v1/keys",
        api.post("/v1/keys", {"name": "ci", "limit": 2.5, "limit_reset": "weekly"}, **auth),
        status=201,
    )
    key_hash = made["data"]["hash"]
    check("GET", "/v1/keys", api.get("/v1/keys?limit=5", **auth), status=200)
    one = f"/v1/keys/{key_hash}"
    check("GET", "/v1/keys/{key_hash}", api.get(one, **auth), status=200)
    patched = api.client.patch(
        one, orjson.dumps({"disabled": True}), content_type="application/json", **auth
    )
    assert check("PATCH", "/v1/keys/{key_hash}", patched, status=200)["data"]["disabled"] is True
    check("DELETE", "/v1/keys/{key_hash}", api.client.delete(one, **auth), status=200)
    check("POST", "/v1/keys", api.post("/v1/keys", {"name": "x", "colour": 1}, **auth), status=400)
    check("GET", "/v1/keys", api.get("/v1/keys", account=account), status=403)
    check("GET", "/v1/models/catalog", api.get("/v1/models/catalog", **auth), status=200)


def test_media(api: ApiClient, account: Account) -> None:
    image = {"model": "sandbox/image", "prompt": "A fox", "n": 2}
    out = check(
        "POST",
        "/v1/images/generations",
        api.post("/v1/images/generations", image, account=account),
        status=200,
    )
    assert out["status"] == "succeeded" and len(out["data"]) == 2
    task = check(
        "GET",
        "/v1/tasks/{task_id}",
        api.get(f"/v1/tasks/{out['task_id']}", account=account),
        status=200,
    )
    assert task["cost"] == 0 and len(task["output"]) == 2
    video = {"model": "sandbox/video", "prompt": "Waves", "duration": 4}
    made = check("POST", "/v1/videos", api.post("/v1/videos", video, account=account), status=200)
    music = {"model": "sandbox/music", "prompt": "Lo-fi", "duration": 20}
    check(
        "POST",
        "/v1/music/generations",
        api.post("/v1/music/generations", music, account=account),
        status=200,
    )
    opened = check(
        "GET",
        "/v1/tasks/{task_id}",
        api.get(f"/v1/tasks/{made['id']}", account=account),
        status=200,
    )
    cancel = api.post(f"/v1/tasks/{made['id']}/cancel", raw=b"", account=account)
    if opened["status"] in ("pending", "running"):
        assert (
            check("POST", "/v1/tasks/{task_id}/cancel", cancel, status=200)["status"] == "cancelled"
        )
    else:
        check("POST", "/v1/tasks/{task_id}/cancel", cancel, status=409)
    check(
        "POST",
        "/v1/videos",
        api.post("/v1/videos", {**video, "duration": 4.5}, account=account),
        status=400,
    )
    over = {**image, "max_credits": -1}
    check(
        "POST",
        "/v1/images/generations",
        api.post("/v1/images/generations", over, account=account),
        status=400,
    )
