"""``count_tokens`` is a request about a model: its refusals (a bad body, a suspended account,
the rate limit) are recorded like the billed surfaces', under the surface
``messages.count_tokens``, at no cost; a count itself, a 401, and any answer of ``/v1/key``
(a call about the key, not to a model) write nothing."""

from __future__ import annotations

from typing import Any

import pytest

from billing.models import CreditAccount
from gateway.models import Generation
from tests.factories import AccountFactory
from tests.helpers import ApiClient, rate_counters_clear
from tests.usage.rollup_world import START, priced_models  # noqa: F401 (a fixture)
from tests.usage.test_refusals import refused_record

URL = "/v1/messages/count_tokens"
BODY = {"model": "test/echo", "messages": [{"role": "user", "content": "hello there"}]}


@pytest.mark.usefixtures("priced_models")
def test_a_count_is_answered_and_not_recorded(api: ApiClient, make_account: AccountFactory) -> None:
    account = make_account(START)
    resp = api.post(URL, BODY, account=account)
    assert resp.status_code == 200 and resp.json()["input_tokens"] > 0
    assert Generation.objects.count() == 0


@pytest.mark.usefixtures("priced_models")
@pytest.mark.parametrize(
    ("body", "raw", "status", "code", "model"),
    [
        ({"model": "test/echo", "messages": "no"}, None, 400, "invalid_parameter", "test/echo"),
        (None, b'{"model": "test/echo",', 400, "invalid_json", ""),
    ],
    ids=["bad_body", "malformed_json"],
)
def test_a_refused_count_is_recorded_at_no_cost(
    api: ApiClient,
    make_account: AccountFactory,
    body: dict[str, Any] | None,
    raw: bytes | None,
    status: int,
    code: str,
    model: str,
) -> None:
    account = make_account(START)
    resp = api.post(URL, body, raw=raw, account=account)
    row = refused_record(resp, account, status, code)
    assert (row.model, row.surface, row.is_streamed) == (model, "messages.count_tokens", False)
    assert row.error_code == code and row.provider == ""
    assert CreditAccount.objects.get(user=account.user).balance == START


@pytest.mark.usefixtures("priced_models")
def test_a_suspended_account_and_the_rate_limit_are_recorded(
    api: ApiClient, make_account: AccountFactory
) -> None:
    account = make_account(START, rate_limit_rpm=1, ignore_tier=True)
    rate_counters_clear(account.key.pk)
    assert api.post(URL, BODY, account=account).status_code == 200
    limited = api.post(URL, BODY, account=account)
    assert refused_record(limited, account, 429, "rate_limited").surface == "messages.count_tokens"
    rate_counters_clear(account.key.pk)
    Generation.objects.all().delete()
    CreditAccount.objects.filter(user=account.user).update(is_suspended=True)
    suspended = api.post(URL, BODY, account=account)
    row = refused_record(suspended, account, 403, "account_suspended")
    assert (row.model, row.surface) == ("test/echo", "messages.count_tokens")
    # while /v1/key, refused the same way, is not a request to a model: nothing is written
    key = api.get("/v1/key", account=account)
    assert key.status_code == 403 and key.json()["error"]["code"] == "account_suspended"
    assert Generation.objects.count() == 1


@pytest.mark.usefixtures("priced_models")
def test_a_401_on_count_tokens_writes_nothing(api: ApiClient, make_account: AccountFactory) -> None:
    account = make_account(START)
    wrong = api.post(URL, BODY, HTTP_AUTHORIZATION=account.secret[:-4] + "0000")
    assert wrong.status_code == 401 and Generation.objects.count() == 0
