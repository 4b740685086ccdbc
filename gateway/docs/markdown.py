"""/api-docs/index.md, /llms.txt and /auth.md: Markdown rendered from the document."""

from __future__ import annotations

from functools import cache

from gateway.api.schema.components import ERROR_CODES
from gateway.api.schema.document import document
from gateway.docs.reference import Field, reference


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _table(fields: tuple[Field, ...]) -> list[str]:
    rows = ["| name | type | required | description |", "|---|---|---|---|"]
    for f in fields:
        rows.append(
            f"| `{f.name}` | {_cell(f.type)} | {'yes' if f.required else 'no'} "
            f"| {_cell(f.description)} |"
        )
    return rows


@cache
def api_markdown() -> str:
    info = document()["info"]
    out = [f"# {info['title']} {info['version']}", "", info.get("description", ""), ""]
    out += [
        "Machine-readable: [/openapi.json](/openapi.json) (OpenAPI 3.1). "
        "Authentication: [/auth.md](/auth.md).",
        "",
        "## Operations",
        "",
    ]
    ops = reference()
    out += [f"- [`{o.method} {o.path}`](#{o.anchor}): {o.summary}" for o in ops]
    for o in ops:
        out += ["", f"## {o.method} {o.path}", "", f'<a id="{o.anchor}"></a>', ""]
        if o.summary:
            out += [f"**{o.summary}**", ""]
        if o.description:
            out += [o.description, ""]
        out += [f"- Operation id: `{o.operation_id}`", f"- Auth: {o.auth}", ""]
        if o.parameters:
            out += ["### Parameters", "", *_table(o.parameters), ""]
        if o.body_type:
            out += [f"### Request body: {o.body_type}", ""]
            if o.body:
                out += [*_table(o.body), ""]
        out += ["### Responses", "", "| status | body | description |", "|---|---|---|"]
        out += [f"| {r.status} | {_cell(r.schema)} | {_cell(r.description)} |" for r in o.responses]
    return "\n".join(out) + "\n"


def llms_txt(origin: str) -> str:
    info = document()["info"]
    return "\n".join(
        [
            f"# {info['title']}",
            "",
            "> An OpenAI- and Anthropic-compatible LLM API gateway paid from prepaid credits: "
            "chat, completions, embeddings, responses, messages, images, videos and music "
            "under /v1, with a key sent as Authorization: Bearer or x-api-key.",
            "",
            "## Docs",
            "",
            f"- [API reference]({origin}/api-docs/index.md): every /v1 operation in Markdown",
            f"- [Authentication]({origin}/auth.md): keys, headers and the auth errors",
            "",
            "## Specs",
            "",
            f"- [OpenAPI 3.1]({origin}/openapi.json): the machine-readable document",
            f"- [API catalog]({origin}/.well-known/api-catalog): RFC 9727 linkset",
            "",
            "## Optional",
            "",
            f"- [Health]({origin}/healthz): the process is up",
            "",
        ]
    )


_AUTH_CODES = {
    "invalid_api_key": "no key, an unknown or revoked key, or a wrong secret",
    "key_expired": "the key is past its expires_at",
    "api_disabled": "API access is turned off for the account",
    "ip_not_allowed": "the caller's address is not in the key's allowed_ips",
    "model_not_allowed": "the model is not in the key's allowed_models",
    "account_suspended": "a refund or dispute took back credits already spent",
    "management_key_not_allowed": "a management key on a model endpoint",
    "management_key_required": "an inference key on /v1/keys",
    "key_limit_exceeded": "the key's spend limit for its period is reached",
    "rate_limited": "the key's rate_limit_rpm is reached (Retry-After)",
}


def _status_of(code: str) -> int:
    return next(s for s, (_, codes) in ERROR_CODES.items() if code in codes)


def auth_markdown(origin: str) -> str:
    rows = [
        f"| {_status_of(code)} | `{code}` | {why} |"
        for code, why in sorted(_AUTH_CODES.items(), key=lambda kv: _status_of(kv[0]))
    ]
    return "\n".join(
        [
            "# Authentication",
            "",
            "Every keyed /v1 operation takes an API key (`sk-…`) in either header:",
            "",
            "```",
            "Authorization: Bearer sk-…",
            "x-api-key: sk-…",
            "```",
            "",
            "`Authorization: Bearer` is what OpenAI's clients send; `x-api-key` is what "
            "Anthropic's send. In the OpenAPI document they are the security schemes "
            f"`bearerAuth` and `apiKeyAuth` ([/openapi.json]({origin}/openapi.json)); either "
            "one is enough. The public operations take no key: "
            + ", ".join(f"`{o.method} {o.path}`" for o in reference() if o.auth == "public")
            + ".",
            "",
            "## Key kinds",
            "",
            "- **Inference keys** call the models (chat, completions, embeddings, responses, "
            "messages, media) and read `/v1/key`, `/v1/credits`, `/v1/generation` and tasks. "
            "They are made in the console (API keys) or with "
            "`manage.py apikey_create EMAIL`.",
            "- **Management keys** provision keys from a backend: `/v1/keys` (create, list, "
            "read, patch, delete), plus `/v1/key` and `/v1/credits`. They are refused on "
            "every model endpoint. Made in the console or with "
            "`manage.py apikey_create EMAIL --management`.",
            "",
            "A key is shown once, when it is made; the gateway keeps only its hash. Its public "
            "identifier (`hash` in /v1/keys) is its prefix.",
            "",
            "## Errors",
            "",
            'Errors are `{"error": {"message", "type", "code", "param"}}` '
            '(under /v1/messages: `{"type": "error", "error": {"type", "message", "code"}}`).',
            "",
            "| status | code | when |",
            "|---|---|---|",
            *rows,
            "",
            f"The full reference: [/api-docs/index.md]({origin}/api-docs/index.md).",
            "",
        ]
    )
