"""Client mistakes and refused keys on /v1/chat/completions: each answers its status and
code in the one error body, and none charges, holds or reaches the upstream."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from accounts.services import apikey_revoke
from tests.factories import Account, AccountFactory, ModelFactory
from tests.fakes.upstream import FakeUpstream
from tests.helpers import (
    ApiClient,
    assert_error,
    assert_not_charged,
    assert_only_refusals,
    chat_body,
)

START = 10_000_000
URL = "/v1/chat/completions"


@pytest.fixture
def account(make_model: ModelFactory, make_account: AccountFactory) -> Account:
    make_model("test/echo", context_length=4_000)
    return make_account(START)


def refused(
    resp: Any,
    account: Account,
    upstream: FakeUpstream,
    status: int,
    code: str,
    param: str | None = None,
) -> None:
    assert_error(resp, status, code, param)
    assert_not_charged(account, START)
    assert upstream.requests == []
    assert_only_refusals()


@pytest.mark.parametrize(
    ("raw", "what"),
    [(b"{not json", "malformed"), (b"", "empty"), (b'{"model": "test/echo",', "truncated")],
)
def test_body_that_is_not_json_is_invalid_json(
    api: ApiClient, account: Account, upstream: FakeUpstream, raw: bytes, what: str
) -> None:
    resp = api.post(URL, raw=raw, account=account)
    refused(resp, account, upstream, 400, "invalid_json")


@pytest.mark.parametrize("body", [[], [{"model": "test/echo"}], "text", 42, None])
def test_json_that_is_not_an_object_is_invalid_request(
    api: ApiClient, account: Account, upstream: FakeUpstream, body: Any
) -> None:
    resp = api.post(URL, body, account=account)
    refused(resp, account, upstream, 400, "invalid_request")


@pytest.mark.parametrize("model", [None, ""])
def test_missing_model_is_model_required(
    api: ApiClient, account: Account, upstream: FakeUpstream, model: str | None
) -> None:
    body = chat_body()
    body["model"] = model
    resp = api.post(URL, body, account=account)
    refused(resp, account, upstream, 400, "model_required", "model")


@pytest.mark.parametrize("messages", [None, []])
def test_missing_messages_is_messages_required(
    api: ApiClient, account: Account, upstream: FakeUpstream, messages: list | None
) -> None:
    body: dict[str, Any] = {"model": "test/echo"}
    if messages is not None:
        body["messages"] = messages
    resp = api.post(URL, body, account=account)
    refused(resp, account, upstream, 400, "messages_required", "messages")


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"temperature": 2.5}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"top_p": 1.01}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": -5}, "max_tokens"),
        ({"max_tokens": 1.5}, "max_tokens"),
        ({"max_completion_tokens": 0}, "max_completion_tokens"),
        ({"max_tokens": 4_000}, "max_tokens"),  # == the context length
        ({"max_tokens": 10_000}, "max_tokens"),
        ({"max_completion_tokens": 4_000}, "max_completion_tokens"),
        ({"frequency_penalty": -2.1}, "frequency_penalty"),
        ({"n": 2}, "n"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"stream": "yes"}, "stream"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
        ({"messages": "hi"}, "messages"),
        ({"tools": [{"type": "function"}]}, "tools[0]"),
        ({"response_format": {"type": "yaml"}}, "response_format"),
        ({"model": 7}, "model"),
    ],
)
def test_out_of_range_parameter_is_invalid_parameter(
    api: ApiClient, account: Account, upstream: FakeUpstream, extra: dict, param: str
) -> None:
    resp = api.post(URL, {**chat_body(), **extra}, account=account)
    refused(resp, account, upstream, 400, "invalid_parameter", param)


def test_max_tokens_just_below_the_context_length_is_accepted(
    api: ApiClient, account: Account
) -> None:
    resp = api.post(URL, chat_body(max_tokens=3_999), account=account)
    assert resp.status_code == 200, resp.content


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_AUTHORIZATION": "Bearer "},
        {"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"},
        {"HTTP_AUTHORIZATION": "Bearer not-a-key"},
        {"HTTP_AUTHORIZATION": "Bearer sk-abc-def"},
        {"HTTP_AUTHORIZATION": "Bearer sk-" + "0" * 12 + "-" + "x" * 43},
        {"HTTP_X_API_KEY": "sk-" + "f" * 12 + "-nope"},
    ],
    ids=["missing", "empty", "basic", "malformed", "short-prefix", "unknown", "x-api-key"],
)
def test_missing_or_unknown_key_is_invalid_api_key(
    api: ApiClient, account: Account, upstream: FakeUpstream, headers: dict[str, str]
) -> None:
    resp = api.post(URL, chat_body(), **headers)
    refused(resp, account, upstream, 401, "invalid_api_key")


def test_right_prefix_with_wrong_secret_is_invalid_api_key(
    api: ApiClient, account: Account, upstream: FakeUpstream
) -> None:
    # given the real public prefix with a different secret part
    _, prefix, secret = account.secret.split("-", 2)
    forged = f"sk-{prefix}-" + ("A" if secret[0] != "A" else "B") + secret[1:]
    resp = api.post(URL, chat_body(), HTTP_AUTHORIZATION=f"Bearer {forged}")
    refused(resp, account, upstream, 401, "invalid_api_key")


def test_revoked_key_is_invalid_api_key(
    api: ApiClient, account: Account, upstream: FakeUpstream
) -> None:
    apikey_revoke(api_key=account.key)
    resp = api.post(URL, chat_body(), account=account)
    refused(resp, account, upstream, 401, "invalid_api_key")


def test_inactive_user_key_is_invalid_api_key(
    api: ApiClient, account: Account, upstream: FakeUpstream
) -> None:
    account.user.is_active = False
    account.user.save(update_fields=["is_active"])
    resp = api.post(URL, chat_body(), account=account)
    refused(resp, account, upstream, 401, "invalid_api_key")


def test_expired_key_is_key_expired(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory, upstream: FakeUpstream
) -> None:
    make_model("test/echo")
    account = make_account(START, expires_at=timezone.now() - dt.timedelta(seconds=1))
    resp = api.post(URL, chat_body(), account=account)
    refused(resp, account, upstream, 401, "key_expired")


def test_key_expiring_later_works(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory
) -> None:
    make_model("test/echo")
    account = make_account(START, expires_at=timezone.now() + dt.timedelta(hours=1))
    assert api.post(URL, chat_body(), account=account).status_code == 200


def test_user_with_api_disabled_is_api_disabled(
    api: ApiClient, account: Account, upstream: FakeUpstream
) -> None:
    account.user.is_api_enabled = False
    account.user.save(update_fields=["is_api_enabled"])
    resp = api.post(URL, chat_body(), account=account)
    refused(resp, account, upstream, 403, "api_disabled")


def test_model_outside_the_key_allowlist_is_model_not_allowed(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory, upstream: FakeUpstream
) -> None:
    make_model("test/echo")
    make_model("test/other")
    account = make_account(START, allowed_models=["test/other"])
    resp = api.post(URL, chat_body("test/echo"), account=account)
    refused(resp, account, upstream, 403, "model_not_allowed", "model")
    # and the allowed model works with the same key
    assert api.post(URL, chat_body("test/other"), account=account).status_code == 200


def test_allowlist_entry_by_alias_allows_the_alias(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory
) -> None:
    make_model("test/echo", aliases=("echo-latest",))
    account = make_account(START, allowed_models=["echo-latest"])
    resp = api.post(URL, chat_body("echo-latest"), account=account)
    assert resp.status_code == 200, resp.content
    assert resp.json()["model"] == "test/echo"


def test_address_outside_the_key_cidrs_is_ip_not_allowed(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory, upstream: FakeUpstream
) -> None:
    make_model("test/echo")
    account = make_account(START, allowed_ips=["10.0.0.0/8", "2001:db8::/32"])
    resp = api.post(URL, chat_body(), account=account)  # from 127.0.0.1
    refused(resp, account, upstream, 403, "ip_not_allowed")


def test_address_inside_the_key_cidrs_is_served(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory
) -> None:
    make_model("test/echo")
    account = make_account(START, allowed_ips=["10.0.0.0/8", "127.0.0.0/8"])
    resp = api.post(URL, chat_body(), account=account)
    assert resp.status_code == 200, resp.content
    assert account.balance() == START - resp.json()["usage"]["cost"]


def test_unknown_model_is_model_not_available(
    api: ApiClient, account: Account, upstream: FakeUpstream
) -> None:
    resp = api.post(URL, chat_body("nobody/nothing"), account=account)
    refused(resp, account, upstream, 404, "model_not_available", "model")


def test_disabled_model_is_model_not_available(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory, upstream: FakeUpstream
) -> None:
    make_model("test/retired", aliases=("retired",), is_enabled=False)
    account = make_account(START)
    for name in ("test/retired", "retired"):
        resp = api.post(URL, chat_body(name), account=account)
        refused(resp, account, upstream, 404, "model_not_available", "model")


@override_settings(GATEWAY_MAX_BODY_BYTES=200)
def test_body_over_the_limit_is_payload_too_large(
    api: ApiClient, account: Account, upstream: FakeUpstream
) -> None:
    resp = api.post(URL, chat_body(text="x" * 300), account=account)
    refused(resp, account, upstream, 413, "payload_too_large")
    # and a body under the limit passes
    assert api.post(URL, chat_body(text="short"), account=account).status_code == 200


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_wrong_method_answers_in_the_error_shape(
    api: ApiClient, account: Account, upstream: FakeUpstream, method: str
) -> None:
    resp = getattr(api.client, method)(URL, **account.headers)
    refused(resp, account, upstream, 405, "method_not_allowed")


@pytest.mark.parametrize(
    "path",
    ["/v1/", "/api/v1/", "/v1/nope", "/v1/chat/completion", "/api/v1/nope/deeper", "/v1/key/x"],
)
def test_unknown_v1_path_answers_404_json(api: ApiClient, path: str) -> None:
    assert_error(api.post(path, {}), 404, "not_found")
    assert_error(api.get(path), 404, "not_found")


def test_allowlist_by_alias_also_allows_the_public_id(api, make_model, make_account, upstream):
    # given a key allowed the model by its alias only
    make_model("test/echo", aliases=("echo-alias",))
    account = make_account(1_000_000, allowed_models=["echo-alias"])
    # when it asks for the model by its public id
    resp = api.post(
        "/v1/chat/completions",
        {"model": "test/echo", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
        account=account,
    )
    # then it is served
    assert resp.status_code == 200, resp.content
    assert resp.json()["model"] == "test/echo"
