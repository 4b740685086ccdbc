"""Ten simultaneous retries with the same Idempotency-Key and body, through the live
gateway on PostgreSQL: one claims the key and is charged once; the nine others, arriving
while it is upstream, are 409 idempotency_in_progress; a retry once it answered replays."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests
from django.db import connection

from billing.models import Hold, LedgerEntry
from billing.selectors import ledger_breaches
from gateway.idempotency.models import IdempotencyRecord
from gateway.models import Generation
from tests.factories import AccountFactory, ModelFactory
from tests.fakes.upstream import FakeHandler
from tests.helpers import chat_body

RETRIES = 10
START = 10_000_000


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a race needs PostgreSQL")
@pytest.mark.timeout(90)
@pytest.mark.django_db(transaction=True)
def test_ten_simultaneous_retries_are_charged_once(
    live_server: Any,
    make_model: ModelFactory,
    make_account: AccountFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_model("test/echo", prompt="20", completion="55")
    account = make_account(START)
    credit = account.user.credit_account
    # given an upstream that answers only when the gate opens
    gate = threading.Event()
    upstream_calls: list[int] = []
    answer = FakeHandler.do_POST

    def gated(handler: FakeHandler) -> None:
        upstream_calls.append(1)
        gate.wait(timeout=30)
        answer(handler)

    monkeypatch.setattr(FakeHandler, "do_POST", gated)
    sessions = [requests.Session() for _ in range(RETRIES)]
    for session in sessions:  # keep-alive connections first: the live server's backlog is 10
        session.get(live_server.url + "/v1/models", timeout=10).raise_for_status()
    headers = {"Authorization": f"Bearer {account.secret}", "Idempotency-Key": "retry-1"}
    barrier = threading.Barrier(RETRIES)
    lock = threading.Lock()
    answers: list[requests.Response] = []

    def retry(session: requests.Session) -> None:
        barrier.wait()
        resp = session.post(
            live_server.url + "/v1/chat/completions", json=chat_body(), headers=headers, timeout=60
        )
        with lock:
            answers.append(resp)

    # when ten retries of one request run at once
    threads = [threading.Thread(target=retry, args=(s,)) for s in sessions]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while len(answers) < RETRIES - 1:  # all but the one held upstream
            assert time.monotonic() < deadline, [r.status_code for r in answers]
            time.sleep(0.02)
    finally:
        gate.set()
        for thread in threads:
            thread.join(timeout=60)
        for session in sessions:
            session.close()
    # then exactly one ran: nine were refused while it was in flight
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200] + [409] * (RETRIES - 1), statuses
    refused = [r for r in answers if r.status_code == 409]
    assert {r.json()["error"]["code"] for r in refused} == {"idempotency_in_progress"}
    assert all("Idempotent-Replayed" not in r.headers for r in answers)
    (served,) = [r for r in answers if r.status_code == 200]
    cost = served.json()["usage"]["cost"]
    assert cost > 0
    assert len(upstream_calls) == 1
    # and it was charged once: one usage entry, one billed record, the balance exact
    usage = LedgerEntry.objects.filter(account=credit, kind=LedgerEntry.Kind.USAGE)
    assert [entry.amount for entry in usage] == [-cost]
    billed = Generation.objects.exclude(status=Generation.Status.REFUSED)
    assert [(g.request_id, g.cost) for g in billed] == [(served.headers["X-Request-Id"], cost)]
    assert account.balance() == START - cost
    assert Hold.objects.filter(account=credit).count() == 0
    assert ledger_breaches() == []
    # and a retry now replays the answer, charging nothing more
    replay = requests.post(
        live_server.url + "/v1/chat/completions", json=chat_body(), headers=headers, timeout=30
    )
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.content == served.content
    assert replay.headers["X-Request-Id"] == served.headers["X-Request-Id"]
    assert account.balance() == START - cost
    assert len(upstream_calls) == 1
    assert IdempotencyRecord.objects.get().state == IdempotencyRecord.State.DONE
