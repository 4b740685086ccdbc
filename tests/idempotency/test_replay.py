"""Idempotency-Key on the billed endpoints: the same key and body replay the stored answer
(status, body, X-Request-Id, ``Idempotent-Replayed: true``) with nothing charged again;
another body is 409 idempotency_conflict; a request in flight is 409
idempotency_in_progress; a streamed request's key is 409 idempotency_stream_used; keys are
per API key; a 5xx or a 429 gives the key back; after 24 h the key is free again."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.services import apikey_create
from billing.models import LedgerEntry
from gateway.idempotency.models import IdempotencyRecord
from gateway.idempotency.store import purge
from gateway.models import Generation
from tests.factories import Account, AccountFactory, ModelFactory
from tests.fakes.upstream import FakeHandler
from tests.helpers import ApiClient, assert_error, chat_body

pytestmark = pytest.mark.django_db(transaction=True)

START = 10_000_000
CHAT = "/v1/chat/completions"


@pytest.fixture
def account(make_model: ModelFactory, make_account: AccountFactory) -> Account:
    make_model("test/echo", prompt="20", completion="55")
    make_model("test/broken", upstream_models=("fail-500",))
    make_model("test/limited", upstream_models=("fail-429",))
    return make_account(START)


def usage_entries(account: Account) -> int:
    credit = account.user.credit_account
    return LedgerEntry.objects.filter(account=credit, kind=LedgerEntry.Kind.USAGE).count()


def test_a_retry_replays_the_answer_and_charges_nothing_more(
    api: ApiClient, account: Account
) -> None:
    first = api.post(CHAT, chat_body(), account=account, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 200
    assert "Idempotent-Replayed" not in first
    cost = first.json()["usage"]["cost"]
    assert cost > 0
    assert account.balance() == START - cost
    # when the client retries with the same key and body
    again = api.post(CHAT, chat_body(), account=account, HTTP_IDEMPOTENCY_KEY="k-1")
    # then the stored answer comes back, byte for byte, under the first request's id
    assert again.status_code == 200
    assert again.content == first.content
    assert again["X-Request-Id"] == first["X-Request-Id"]
    assert again["Content-Type"] == first["Content-Type"]
    assert again["Idempotent-Replayed"] == "true"
    # and nothing more was charged or logged
    assert account.balance() == START - cost
    assert usage_entries(account) == 1
    assert Generation.objects.count() == 1
    (record,) = IdempotencyRecord.objects.all()
    assert (record.state, record.status, record.request_id) == ("done", 200, first["X-Request-Id"])


def test_another_body_with_the_same_key_is_a_conflict(api: ApiClient, account: Account) -> None:
    assert api.post(CHAT, chat_body(), account=account, HTTP_IDEMPOTENCY_KEY="k").status_code == 200
    balance = account.balance()
    other = api.post(CHAT, chat_body(text="else"), account=account, HTTP_IDEMPOTENCY_KEY="k")
    assert_error(other, 409, "idempotency_conflict", "Idempotency-Key")
    # the same body on another endpoint is another request too
    other = api.post("/v1/completions", chat_body(), account=account, HTTP_IDEMPOTENCY_KEY="k")
    assert_error(other, 409, "idempotency_conflict", "Idempotency-Key")
    assert account.balance() == balance
    assert usage_entries(account) == 1


def test_a_request_in_flight_holds_its_key(
    api: ApiClient, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given an upstream that answers only once the gate opens
    gate, arrived = threading.Event(), threading.Event()
    answer = FakeHandler.do_POST

    def gated(handler: FakeHandler) -> None:
        arrived.set()
        gate.wait(timeout=30)
        answer(handler)

    monkeypatch.setattr(FakeHandler, "do_POST", gated)
    first: list[Any] = []
    thread = threading.Thread(
        target=lambda: first.append(
            ApiClient().post(CHAT, chat_body(), account=account, HTTP_IDEMPOTENCY_KEY="slow")
        )
    )
    thread.start()
    try:
        assert arrived.wait(timeout=30)
        # when a retry arrives while the first is still upstream
        retry = api.post(CHAT, chat_body(), account=account, HTTP_IDEMPOTENCY_KEY="slow")
        assert_error(retry, 409, "idempotency_in_progress", "Idempotency-Key")
    finally:
        gate.set()
        thread.join(timeout=30)
    assert first[0].status_code == 200
    # then once answered, the retry replays
    replay = api.post(CHAT, chat_body(), account=account, HTTP_IDEMPOTENCY_KEY="slow")
    assert replay["Idempotent-Replayed"] == "true" and replay.content == first[0].content
    assert usage_entries(account) == 1


def test_a_streamed_requests_key_is_never_replayed(api: ApiClient, account: Account) -> None:
    body = chat_body(stream=True)
    stream = api.post(CHAT, body, account=account, HTTP_IDEMPOTENCY_KEY="s")
    assert stream.status_code == 200
    b"".join(stream.streaming_content)
    balance = account.balance()
    again = api.post(CHAT, body, account=account, HTTP_IDEMPOTENCY_KEY="s")
    assert_error(again, 409, "idempotency_stream_used", "Idempotency-Key")
    assert account.balance() == balance
    assert usage_entries(account) == 1


def test_keys_are_scoped_to_the_api_key(
    api: ApiClient, account: Account, make_account: AccountFactory
) -> None:
    first = api.post(CHAT, chat_body(), account=account, HTTP_IDEMPOTENCY_KEY="shared")
    # another key of the same user, and another user's key, run their own request
    second_key = apikey_create(user=account.user, name="second")
    own = api.post(
        CHAT,
        chat_body(),
        HTTP_AUTHORIZATION=f"Bearer {second_key.secret}",
        HTTP_IDEMPOTENCY_KEY="shared",
    )
    other = make_account(START)
    theirs = api.post(CHAT, chat_body(), account=other, HTTP_IDEMPOTENCY_KEY="shared")
    for resp in (own, theirs):
        assert resp.status_code == 200
        assert "Idempotent-Replayed" not in resp
        assert resp["X-Request-Id"] != first["X-Request-Id"]
    assert usage_entries(account) == 2
    assert usage_entries(other) == 1
    assert IdempotencyRecord.objects.count() == 3


def test_an_error_gives_the_key_back(api: ApiClient, account: Account) -> None:
    bad = chat_body(max_tokens=-1)
    refused = api.post(CHAT, bad, account=account, HTTP_IDEMPOTENCY_KEY="bad")
    assert refused.status_code == 400
    # the same bad body runs again (nothing was kept), and the fixed body takes the key
    again = api.post(CHAT, bad, account=account, HTTP_IDEMPOTENCY_KEY="bad")
    assert again.status_code == 400 and "Idempotent-Replayed" not in again
    assert again["X-Request-Id"] != refused["X-Request-Id"]
    fixed = api.post(CHAT, chat_body(), account=account, HTTP_IDEMPOTENCY_KEY="bad")
    assert fixed.status_code == 200 and "Idempotent-Replayed" not in fixed
    replay = api.post(CHAT, chat_body(), account=account, HTTP_IDEMPOTENCY_KEY="bad")
    assert replay["Idempotent-Replayed"] == "true"
    assert replay["X-Request-Id"] == fixed["X-Request-Id"]
    assert usage_entries(account) == 1
    for model, key in (("test/broken", "5xx"), ("test/limited", "429")):
        failed = api.post(CHAT, chat_body(model), account=account, HTTP_IDEMPOTENCY_KEY=key)
        assert failed.status_code >= 500 or failed.status_code == 429, failed.content
        retry = api.post(CHAT, chat_body(model), account=account, HTTP_IDEMPOTENCY_KEY=key)
        assert "Idempotent-Replayed" not in retry
        assert retry["X-Request-Id"] != failed["X-Request-Id"]
    assert not IdempotencyRecord.objects.filter(key__in=["5xx", "429"]).exists()
    assert usage_entries(account) == 1


def test_after_24_hours_the_key_runs_a_new_request(api: ApiClient, account: Account) -> None:
    first = api.post(CHAT, chat_body(), account=account, HTTP_IDEMPOTENCY_KEY="day")
    IdempotencyRecord.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    later = api.post(CHAT, chat_body(), account=account, HTTP_IDEMPOTENCY_KEY="day")
    assert later.status_code == 200 and "Idempotent-Replayed" not in later
    assert later["X-Request-Id"] != first["X-Request-Id"]
    assert usage_entries(account) == 2
    (record,) = IdempotencyRecord.objects.all()
    assert record.request_id == later["X-Request-Id"]
    assert record.expires_at - record.created_at == dt.timedelta(hours=24)
    # and the purge deletes what has expired, nothing else
    assert purge(now=record.expires_at - dt.timedelta(seconds=1)) == 0
    assert purge(now=record.expires_at) == 1
    assert IdempotencyRecord.objects.count() == 0


def test_a_bad_key_is_refused_before_any_charge(api: ApiClient, account: Account) -> None:
    resp = api.post(CHAT, chat_body(), account=account, HTTP_IDEMPOTENCY_KEY="x" * 256)
    assert_error(resp, 400, "invalid_idempotency_key", "Idempotency-Key")
    assert usage_entries(account) == 0 and account.balance() == START


def test_without_the_header_no_idempotency_query(api: ApiClient, account: Account) -> None:
    api.post(CHAT, chat_body(), account=account)  # warm the key cache
    with CaptureQueriesContext(connection) as queries:
        assert api.post(CHAT, chat_body(), account=account).status_code == 200
    assert not [q for q in queries if "idempotency" in q["sql"]]
    assert IdempotencyRecord.objects.count() == 0
