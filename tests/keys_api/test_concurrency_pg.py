"""PostgreSQL: 24 requests at once on a key made by ``POST /v1/keys`` with a daily limit
of ten requests' worth never spend past it. The reserve takes the key's KeySpend row for
the day under a lock, so each is either charged (and counted) or refused with 402
``key_limit_exceeded``; nothing stays held and the ledger adds up."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests
from django.db import connection

from billing.models import CreditAccount, KeySpend
from billing.services import credits_grant
from config.money import period_start
from tests.factories import ModelFactory
from tests.fakes.upstream import FakeUpstream
from tests.helpers import chat_body
from tests.keys_api.support import call, manager_of

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locking"),
    pytest.mark.django_db(transaction=True),
]

LIMIT = 1_000  # credits a day: ten requests of 100
RACERS = 24


def test_concurrent_requests_never_overspend_a_daily_limit(
    live_server: Any, make_model: ModelFactory, upstream: FakeUpstream
) -> None:
    make_model("test/echo")
    user, manager = manager_of("race@example.com")
    credits_grant(user_id=user.pk, amount=1_000_000, memo="test")
    made = call(live_server.url, manager)(
        "POST", "/v1/keys", {"name": "racer", "limit": LIMIT / 1_000_000, "limit_reset": "daily"}
    )
    assert made.status_code == 201, made.text
    key_hash, secret = made.json()["data"]["hash"], made.json()["key"]
    barrier = threading.Barrier(RACERS)
    answers: list[tuple[int, Any]] = []
    lock = threading.Lock()

    def race() -> None:
        barrier.wait()
        resp = requests.post(
            live_server.url + "/v1/chat/completions",
            json=chat_body(text="hi", max_tokens=4),
            headers={"Authorization": f"Bearer {secret}"},
            timeout=60,
        )
        with lock:
            answers.append((resp.status_code, resp.json()))

    threads = [threading.Thread(target=race) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    charged = [body["usage"]["cost"] for status, body in answers if status == 200]
    refused = [body["error"]["code"] for status, body in answers if status != 200]
    assert len(answers) == RACERS
    assert set(refused) <= {"key_limit_exceeded"}, refused
    # a hold of 100 each (max_tokens 4): exactly ten fit, every other one is refused
    assert len(charged) == LIMIT // 100 and set(charged) == {100}
    spend = KeySpend.objects.get(api_key__prefix=key_hash, month=period_start("day"))
    assert spend.held == 0 and spend.spent == sum(charged) <= LIMIT
    assert CreditAccount.objects.get(user=user).balance == 1_000_000 - sum(charged)
    assert len(upstream.requests) == len(charged)
    print(f"\n{len(charged)} charged, {len(refused)} refused, {spend.spent} of {LIMIT} spent")
