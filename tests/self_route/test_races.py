"""Self-routed requests racing on PostgreSQL: each charged exactly the fee, nothing lost,
nothing left held; and at 0 % an account without credits is still served."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
import requests
from django.core.management import call_command
from django.db import connection

from billing.models import Hold, LedgerEntry
from gateway.models import Generation
from tests.factories import AccountFactory, ModelFactory
from tests.helpers import ApiClient, chat_body
from tests.self_route.conftest import START, ProviderFactory

N = 20


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL for the race")
@pytest.mark.django_db(transaction=True)
def test_concurrent_self_routed_requests_each_charge_exactly_the_fee(
    live_server: Any,
    make_account: AccountFactory,
    make_model: ModelFactory,
    make_own: ProviderFactory,
    settings: Any,
) -> None:
    settings.GATEWAY_SELF_ROUTE_FEE_PERCENT = Decimal("10")
    make_model("test/big", prompt="1500", completion="6250")
    account = make_account(START)
    make_own(account)
    body = chat_body("test/big", max_tokens=50, provider={"only": ["my-home"]})
    headers = {"Authorization": f"Bearer {account.secret}"}
    barrier = threading.Barrier(N)
    results: list[tuple[int, int]] = []
    lock = threading.Lock()

    def one() -> None:
        with requests.Session() as session:
            barrier.wait()
            resp = session.post(
                live_server.url + "/v1/chat/completions", json=body, headers=headers, timeout=30
            )
            with lock:
                results.append((resp.status_code, resp.json()["usage"]["cost"]))

    threads = [threading.Thread(target=one) for _ in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    # 10 % of 10 x 1500 + 4 x 6250 = 40,000 credits listed: 4,000 each
    assert results == [(200, 4_000)] * N
    assert account.balance() == START - N * 4_000
    assert account.held() == 0 and Hold.objects.count() == 0
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.USAGE).count() == N
    assert Generation.objects.filter(provider="my-home", cost=4_000).count() == N
    call_command("verify_ledger")


@pytest.mark.django_db
def test_at_zero_fee_an_account_without_credits_is_served(
    api: ApiClient,
    make_account: AccountFactory,
    make_model: ModelFactory,
    make_own: ProviderFactory,
) -> None:
    make_model("test/echo")
    broke = make_account(0)
    make_own(broke)
    resp = api.post(
        "/v1/chat/completions", chat_body(provider={"only": ["my-home"]}), account=broke
    )
    assert resp.status_code == 200, resp.content
    assert resp.json()["usage"]["cost"] == 0
    assert (broke.balance(), broke.held()) == (0, 0)
    # and the catalog's route still refuses it
    resp = api.post("/v1/chat/completions", chat_body(), account=broke)
    assert resp.status_code == 402
