"""Refused requests in the request log: a request whose key's secret matched, answered a 4xx
before anything was held, is one Generation with status ``refused``, its HTTP status and
error code, cost 0, no ledger entry and no rollup. A 401 (no known owner) writes nothing,
and a refusal whose record cannot be written is still answered its 4xx."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import User
from billing.models import CreditAccount, LedgerEntry
from gateway.models import Generation, UsageDaily
from tests.factories import Account, AccountFactory
from tests.helpers import ApiClient, assert_not_charged, chat_body, rate_counters_clear
from tests.usage.rollup_world import START, priced_models  # noqa: F401 (a fixture)

URL = "/v1/chat/completions"


def refused_record(resp: Any, account: Account, status: int, code: str) -> Generation:
    """The answer is ``status``/``code`` and the request log holds exactly its refusal."""
    assert resp.status_code == status, resp.content
    body = resp.json()["error"]
    assert body["code"] == code
    row = Generation.objects.get(request_id=resp["X-Request-Id"])
    assert (row.status, row.http_status, row.error_code) == ("refused", status, code)
    assert (row.user_id, row.api_key_id) == (account.user.pk, account.key.pk)
    assert (row.cost, row.ledger_entry_id, row.prompt_tokens, row.completion_tokens) == (
        0,
        None,
        0,
        0,
    )
    assert row.created_at is not None
    assert UsageDaily.objects.count() == 0
    assert LedgerEntry.objects.filter(kind="usage").count() == 0
    return row


@pytest.mark.usefixtures("priced_models")
@pytest.mark.parametrize(
    ("key_fields", "body", "status", "code", "model"),
    [
        ({}, {"model": "test/echo", "messages": "no"}, 400, "invalid_parameter", "test/echo"),
        ({}, {"messages": [{"role": "user", "content": "hi"}]}, 400, "model_required", ""),
        ({}, chat_body("test/missing"), 404, "model_not_available", "test/missing"),
        ({"monthly_limit": 1}, chat_body(max_tokens=50), 402, "key_limit_exceeded", "test/echo"),
        ({"allowed_models": ["test/other"]}, chat_body(), 403, "model_not_allowed", "test/echo"),
    ],
    ids=["bad_body", "no_model", "unknown_model", "key_limit", "model_not_allowed"],
)
def test_a_request_refused_before_its_hold_is_recorded_at_no_cost(
    api: ApiClient,
    make_account: AccountFactory,
    key_fields: dict[str, Any],
    body: dict[str, Any],
    status: int,
    code: str,
    model: str,
) -> None:
    account = make_account(START, **key_fields)
    resp = api.post(URL, body, account=account)
    row = refused_record(resp, account, status, code)
    assert (row.model, row.surface) == (model, "chat.completions")
    assert_not_charged(account, START)


@pytest.mark.usefixtures("priced_models")
def test_not_enough_credits_is_recorded(api: ApiClient, make_account: AccountFactory) -> None:
    account = make_account(50)
    resp = api.post(URL, chat_body(max_tokens=500), account=account)
    refused_record(resp, account, 402, "insufficient_credits")
    assert_not_charged(account, 50)


@pytest.mark.usefixtures("priced_models")
def test_malformed_json_is_recorded_without_a_model(
    api: ApiClient, make_account: AccountFactory
) -> None:
    account = make_account(START)
    resp = api.post(URL, raw=b'{"model": "test/echo",', account=account)
    assert refused_record(resp, account, 400, "invalid_json").model == ""


@pytest.mark.usefixtures("priced_models")
@pytest.mark.parametrize("change", ["suspended", "api_disabled", "ip_not_allowed"])
def test_a_key_refused_while_it_is_checked_is_recorded(
    api: ApiClient, make_account: AccountFactory, change: str
) -> None:
    # given a valid key whose account is suspended, whose API access is off, or that may
    # not be used from this address
    account = make_account(START, allowed_ips=["10.0.0.0/8"] if change == "ip_not_allowed" else [])
    if change == "suspended":
        CreditAccount.objects.filter(user=account.user).update(is_suspended=True)
    if change == "api_disabled":
        User.objects.filter(pk=account.user.pk).update(is_api_enabled=False)
    code = {"suspended": "account_suspended"}.get(change, change)
    # when it calls, then it is refused 403 and the refusal is in its owner's log
    resp = api.post(URL, chat_body(), account=account)
    assert refused_record(resp, account, 403, code).model == "test/echo"


@pytest.mark.usefixtures("priced_models")
def test_the_rate_limit_is_recorded_and_the_anthropic_surface_too(
    api: ApiClient, make_account: AccountFactory
) -> None:
    account = make_account(START, rate_limit_rpm=1, ignore_tier=True)
    rate_counters_clear(account.key.pk)
    body = {"model": "test/echo", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
    assert api.post("/v1/messages", body, account=account).status_code == 200
    resp = api.post("/v1/messages", body, account=account)
    assert resp.status_code == 429 and resp.json()["error"]["code"] == "rate_limited"
    row = Generation.objects.get(request_id=resp["X-Request-Id"])
    assert (row.status, row.http_status, row.error_code, row.cost) == (
        "refused",
        429,
        "rate_limited",
        0,
    )
    assert row.surface == "messages" and row.ledger_entry_id is None
    assert Generation.objects.filter(status="success").count() == 1
    rate_counters_clear(account.key.pk)


@pytest.mark.usefixtures("priced_models")
def test_a_401_writes_nothing(api: ApiClient, make_account: AccountFactory) -> None:
    account = make_account(START)
    wrong = api.post(URL, chat_body(), HTTP_AUTHORIZATION=account.secret[:-4] + "0000")
    account.key.expires_at = timezone.now()
    account.key.save(update_fields=["expires_at"])
    expired = api.post(URL, chat_body(), account=account)
    missing = api.post(URL, chat_body())
    assert [r.status_code for r in (wrong, expired, missing)] == [401, 401, 401]
    assert Generation.objects.count() == 0


@pytest.mark.usefixtures("priced_models")
def test_a_refusal_that_cannot_be_recorded_is_still_answered_its_4xx(
    api: ApiClient, make_account: AccountFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # given a request log that cannot be written to (its table renamed, inside the test's
    # transaction, which rolls it back)
    account = make_account(START)
    table = Generation._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE "{table}" RENAME TO "{table}_away"')
    try:
        resp = api.post(URL, {"model": "test/echo", "messages": "no"}, account=account)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'ALTER TABLE "{table}_away" RENAME TO "{table}"')
    # then the client still gets its 400, and the failure is logged
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_parameter"
    assert any("could not be recorded" in r.getMessage() for r in caplog.records)
    assert Generation.objects.count() == 0
