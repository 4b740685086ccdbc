"""The provisional key cache of the billed endpoints (gateway/pipeline/keycache.py,
PostgreSQL): a key read moments ago is reused without a query, and yet every change to it,
made by this process or any other (here: straight SQL, as another process or an operator
would), counts on the very next request, paid or free, valid or not."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ApiKey
from accounts.services import apikey_revoke, apikey_touch, apikey_update
from billing.models import Hold
from gateway.api import auth
from gateway.models import Generation
from tests.factories import Account, AccountFactory, ModelFactory
from tests.fakes.upstream import FakeUpstream
from tests.helpers import ApiClient, assert_error, chat_body, rate_counters_clear

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the cache rides on PostgreSQL's reserve"
)

URL = "/v1/chat/completions"
START = 10_000_000


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The prefixes the gateway read from the database, in order."""
    seen: list[str] = []
    real = auth.apikey_with_account

    def spy(prefix: str) -> Any:
        seen.append(prefix)
        return real(prefix)

    monkeypatch.setattr(auth, "apikey_with_account", spy)
    return seen


@pytest.fixture
def account(make_model: ModelFactory, make_account: AccountFactory) -> Account:
    make_model("test/echo")
    make_model("test/other")
    make_model("test/free", prompt="0", completion="0", request="0")
    return make_account(START)


def served(api: ApiClient, account: Account, model: str = "test/echo") -> int:
    resp = api.post(URL, chat_body(model, max_tokens=20), account=account)
    assert resp.status_code == 200, resp.content
    return resp.json()["usage"]["cost"]


def sql(statement: str, *params: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def test_a_key_read_moments_ago_is_reused_and_the_request_billed(
    api: ApiClient, account: Account, reads: list[str]
) -> None:
    costs = [served(api, account) for _ in range(3)]
    assert reads == [account.key.prefix]  # one read for three requests
    assert account.balance() == START - sum(costs)
    assert Generation.objects.filter(api_key=account.key, cost__gt=0).count() == 3


@pytest.mark.parametrize("how", ["service", "sql"])
@pytest.mark.parametrize(
    "request_body",
    [
        chat_body(max_tokens=20),  # paid: refused by the reserve itself
        chat_body("test/free", max_tokens=20),  # free: nothing held, so the key is read
        {"model": "test/echo", "messages": "not a list"},  # invalid: the key's error wins
        chat_body(),  # no max_tokens: the cap needs the fresh balance
    ],
    ids=["paid", "free", "invalid", "capped"],
)
def test_a_revoked_key_is_refused_on_its_next_request(
    api: ApiClient,
    account: Account,
    upstream: FakeUpstream,
    how: str,
    request_body: dict[str, Any],
    reads: list[str],
) -> None:
    spent = served(api, account)  # the key is cached now
    if how == "service":
        apikey_revoke(api_key=account.key)
    else:  # another process: no revision bump, only the flag
        sql("UPDATE accounts_apikey SET is_disabled = true WHERE id = %s", account.key.pk)
    upstream.requests.clear()
    resp = api.post(URL, request_body, account=account)
    assert_error(resp, 401, "invalid_api_key")
    assert upstream.requests == []
    assert account.balance() == START - spent and account.held() == 0
    assert reads == [account.key.prefix] * 2  # cached by the first request, read once more


def test_expiry_and_a_disabled_user_count_at_once(
    api: ApiClient, make_account: AccountFactory, account: Account, upstream: FakeUpstream
) -> None:
    served(api, account)
    past = timezone.now() - dt.timedelta(seconds=1)
    sql("UPDATE accounts_apikey SET expires_at = %s WHERE id = %s", past, account.key.pk)
    assert_error(api.post(URL, chat_body(max_tokens=20), account=account), 401, "key_expired")

    other = make_account(START)
    served(api, other)
    sql("UPDATE accounts_user SET is_active = false WHERE id = %s", other.user.pk)
    assert_error(api.post(URL, chat_body(max_tokens=20), account=other), 401, "invalid_api_key")
    assert other.balance() == START - Generation.objects.get(api_key=other.key).cost
    assert other.held() == 0 and len(upstream.requests) == 2  # the two served, no more


def test_a_changed_allowlist_and_limit_count_on_the_next_request(
    api: ApiClient, account: Account, reads: list[str]
) -> None:
    key = account.key
    key.allowed_models = ["test/echo"]
    apikey_update(api_key=key, changed=["allowed_models"])
    served(api, account)  # cached with the allowlist [test/echo]
    assert_error(
        api.post(URL, chat_body("test/other", max_tokens=20), account=account),
        403,
        "model_not_allowed",
        param="model",
    )
    key.allowed_models = ["test/other"]
    apikey_update(api_key=key, changed=["allowed_models"])
    served(api, account, "test/other")  # the stale copy refused it; the fresh one serves it
    assert_error(
        api.post(URL, chat_body(max_tokens=20), account=account), 403, "model_not_allowed", "model"
    )
    key.monthly_limit = 50  # below the minimum charge of one request
    apikey_update(api_key=key, changed=["monthly_limit"])
    before = account.balance()
    resp = api.post(URL, chat_body("test/other", max_tokens=20), account=account)
    assert_error(resp, 402, "key_limit_exceeded")
    assert account.balance() == before and account.held() == 0
    assert reads.count(key.prefix) >= 4  # each change was read from the database


def test_a_wrong_secret_for_a_cached_prefix_is_refused(
    api: ApiClient, account: Account, upstream: FakeUpstream
) -> None:
    cost = served(api, account)
    wrong = account.secret[:-4] + ("0000" if not account.secret.endswith("0000") else "1111")
    upstream.requests.clear()
    resp = api.post(URL, chat_body(max_tokens=20), HTTP_AUTHORIZATION=f"Bearer {wrong}")
    assert_error(resp, 401, "invalid_api_key")
    assert upstream.requests == [] and account.balance() == START - cost


def changed_meanwhile(account: Account, change: str, after: float = 0.1) -> threading.Thread:
    """Change the key from another thread (another process's view) while a request runs."""

    def run() -> None:
        time.sleep(after)
        key = ApiKey.objects.get(pk=account.key.pk)
        if change == "revoke":
            apikey_revoke(api_key=key)
        else:
            key.name = "renamed"
            apikey_update(api_key=key, changed=["name"])
        connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("change", ["edit", "revoke"])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_key_changed_while_its_request_is_upstream_is_not_asked_again(
    api: ApiClient,
    make_model: ModelFactory,
    make_account: AccountFactory,
    upstream: FakeUpstream,
    change: str,
    stream: bool,
) -> None:
    """The reserve confirmed the key: a failure after it is the request's own (no second
    plan, no second upstream call, no second hold)."""
    make_model("test/echo")
    make_model("test/failing", upstream_models=("slowfail-400",))
    account = make_account(START)
    spent = served(api, account)  # the key is cached now
    upstream.requests.clear()
    thread = changed_meanwhile(account, change)
    body = chat_body("test/failing", max_tokens=20, **({"stream": True} if stream else {}))
    resp = api.post(URL, body, account=account)
    thread.join()
    assert_error(resp, 502, "provider_error")
    assert len(upstream.requests) == 1
    failed = Generation.objects.get(request_id=resp["X-Request-Id"])
    assert (failed.status, failed.http_status, failed.cost) == ("error", 502, 0)
    assert account.balance() == START - spent and account.held() == 0
    assert Hold.objects.count() == 0


def test_a_replanned_request_counts_once_against_the_rate_limit(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory
) -> None:
    make_model("test/echo")
    account = make_account(START, rate_limit_rpm=10)  # one earned every 6 s
    rate_counters_clear(account.key.pk)
    first = api.post(URL, chat_body(max_tokens=20), account=account)
    assert first.status_code == 200, first.content
    assert first["X-RateLimit-Remaining"] == "9"
    key = ApiKey.objects.get(pk=account.key.pk)
    key.name = "renamed"
    apikey_update(api_key=key, changed=["name"])  # the cached copy is now out of date
    second = api.post(URL, chat_body(max_tokens=20), account=account)
    assert second.status_code == 200
    assert second["X-RateLimit-Remaining"] == "8"
    rate_counters_clear(account.key.pk)


def test_streaming_on_embeddings_is_refused_before_anything_is_held(
    api: ApiClient, make_model: ModelFactory, account: Account
) -> None:
    make_model("test/emb", upstream_models=("emb",))
    resp = api.post(
        "/v1/embeddings", {"model": "test/emb", "input": "hi", "stream": True}, account=account
    )
    assert_error(resp, 400, "invalid_parameter", param="stream")
    assert account.held() == 0 and Hold.objects.count() == 0


def test_the_revision_moves_in_the_database_even_from_an_old_copy(account: Account) -> None:
    old = ApiKey.objects.get(pk=account.key.pk)
    fresh = ApiKey.objects.get(pk=account.key.pk)
    fresh.name = "first change"
    apikey_update(api_key=fresh, changed=["name"])
    assert fresh.revision == 1
    old.rate_limit_rpm = 5
    old.save()  # loaded before the first change
    assert old.revision == 2
    assert ApiKey.objects.get(pk=account.key.pk).revision == 2


def test_a_billed_request_with_a_cached_key_is_two_statements(
    api: ApiClient, account: Account
) -> None:
    """The reserve and the settle, both visible to Django's query capture (and logging)."""
    served(api, account)
    with CaptureQueriesContext(connection) as ctx:
        served(api, account)
    # (the registry's revision stamp is read at most every GATEWAY_CATALOG_TTL_SECONDS)
    statements = [q["sql"] for q in ctx.captured_queries if "catalogrevision" not in q["sql"]]
    assert len(statements) == 2, statements
    assert 'INSERT INTO "billing_hold"' in statements[0]
    assert 'DELETE FROM "billing_hold"' in statements[1]
    assert 'INSERT INTO "gateway_generation"' in statements[1]


# --- a change by any path: the revision trigger (accounts/migrations/0003) -----------------


@pytest.mark.parametrize(
    ("change", "status", "code", "param"),
    [
        ({"monthly_limit": 0}, 402, "key_limit_exceeded", None),
        ({"allowed_models": ["other"]}, 403, "model_not_allowed", "model"),
        ({"allowed_ips": ["10.0.0.0/8"]}, 403, "ip_not_allowed", None),
    ],
    ids=["monthly_limit", "allowed_models", "allowed_ips"],
)
def test_a_key_changed_by_a_raw_update_is_refused_on_its_next_request(
    api: ApiClient,
    account: Account,
    upstream: FakeUpstream,
    change: dict[str, Any],
    status: int,
    code: str,
    param: str | None,
) -> None:
    # given a key cached by a served request
    spent = served(api, account)
    upstream.requests.clear()
    # when it is changed by a plain QuerySet.update(), which no service wraps
    ApiKey.objects.filter(pk=account.key.pk).update(**change)
    # then its next 30 requests are all refused, and nothing more is charged or sent
    answers = [api.post(URL, chat_body(max_tokens=20), account=account) for _ in range(30)]
    for resp in answers:
        assert_error(resp, status, code, param=param)
    assert upstream.requests == []
    assert account.balance() == START - spent and account.held() == 0
    assert Generation.objects.filter(api_key=account.key, status="success").count() == 1
    assert Generation.objects.filter(api_key=account.key, status="refused", cost=0).count() == 30


def revision(account: Account) -> int:
    return ApiKey.objects.values_list("revision", flat=True).get(pk=account.key.pk)


def test_the_revision_moves_once_per_change_by_any_path(account: Account) -> None:
    key = ApiKey.objects.get(pk=account.key.pk)
    assert revision(account) == 0
    # a raw update of a column: one bump, from the trigger
    ApiKey.objects.filter(pk=key.pk).update(name="raw")
    assert revision(account) == 1
    # an update that changes nothing: no bump
    ApiKey.objects.filter(pk=key.pk).update(name="raw")
    assert revision(account) == 1
    # a service that bumps it itself: still one bump, not two
    key.monthly_limit = 5_000
    apikey_update(api_key=key, changed=["monthly_limit"])
    assert key.revision == revision(account) == 2
    # save(): one bump
    key.name = "saved"
    key.save()
    assert key.revision == revision(account) == 3
    # use of the key (last_used_at): no bump, so a cached copy stays valid
    key.last_used_at = None
    apikey_touch(api_key=key)
    assert key.last_used_at is not None and revision(account) == 3
    apikey_revoke(api_key=key)
    assert key.revision == revision(account) == 4


def test_use_of_a_cached_key_does_not_make_it_stale(
    api: ApiClient, account: Account, reads: list[str]
) -> None:
    """apikey_touch writes last_used_at (at most once a minute): the trigger ignores it, so
    the cached copy keeps confirming."""
    ApiKey.objects.filter(pk=account.key.pk).update(last_used_at=None)
    served(api, account)  # read, cached, and touched
    assert ApiKey.objects.get(pk=account.key.pk).last_used_at is not None
    served(api, account)
    served(api, account)
    assert reads == [account.key.prefix]  # one read for three requests
    assert revision(account) == 0
