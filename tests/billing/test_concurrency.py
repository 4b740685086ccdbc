"""Concurrency of the money path on PostgreSQL: many requests racing for one account's
credits (or one key's monthly limit) through the live gateway, and many reservations racing
in the billing service itself. Exactly as many win as the credits allow; nothing is lost.

The live server is threaded and shares this process's connection pool (``DB_POOL_MAX_SIZE``,
20 by default) with the test. The default is kept: each request holds a connection only for
its short admit and settle transactions (the gateway gives it back before calling upstream),
so 40 requests queue for milliseconds, far within the pool's 10 s timeout. Measured here,
40 admissions took 0.25-0.7 s with a pool of 20 and the same with 50: they are bound by
Python in one process, not by connections.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
import pytest
import requests
from django.core.management import call_command
from django.db import connection

from billing.models import CreditAccount, Hold, KeySpend, LedgerEntry
from billing.services import InsufficientCredits, KeyLimitExceeded, credits_reserve
from gateway.models import Generation
from tests.factories import Account
from tests.fakes.upstream import FakeHandler, FakeUpstream

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite serialises every writer, so there is no race to test",
    ),
]

REQUESTS = 40
WINNERS = 10
MAX_TOKENS = 64
PROMPT_PRICE = Decimal("1.5")
COMPLETION_PRICE = Decimal("6.25")
# Non-ASCII on purpose: the prompt bound counts UTF-8 bytes, not characters.
MESSAGES = [{"role": "user", "content": "alpha beta gamma délta epsilon zêta eta thêta iota"}]


def hold_of(messages: list[dict[str, Any]], *, max_tokens: int, context_length: int) -> int:
    """The documented hold: prompt bound = UTF-8 bytes of the body as compact JSON, less its
    model and max_tokens (capped at the context length), then ceil(prompt x price +
    max_tokens x price + request), at least the minimum charge of 100."""
    prompt_bound = min(len(orjson.dumps({"messages": messages})), context_length)
    raw = prompt_bound * PROMPT_PRICE + max_tokens * COMPLETION_PRICE + Decimal(0)
    return max(math.ceil(raw), 100)


class Poller(threading.Thread):
    """Reads the account (and key month) over and over while the requests run."""

    def __init__(self, account: Account) -> None:
        super().__init__(daemon=True)
        self.account_id = account.user.credit_account.pk
        self.key_id = account.key.pk
        self.samples: list[tuple[int, int]] = []
        self.key_samples: list[tuple[int, int]] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.samples.append(
                    CreditAccount.objects.values_list("balance", "held").get(pk=self.account_id)
                )
                self.key_samples.extend(
                    KeySpend.objects.filter(api_key_id=self.key_id).values_list("spent", "held")
                )
                time.sleep(0.005)
        except BaseException as exc:
            self.error = exc
        finally:
            connection.close()


@dataclass
class Race:
    costs: list[int]  # usage.cost of each 200
    codes: list[str]  # error.code of each 402
    peak: tuple[int, int, int]  # (balance, held, key month held) with every winner in flight
    poller: Poller
    seconds: float


def gate_upstream(monkeypatch: pytest.MonkeyPatch, upstream: FakeUpstream) -> threading.Event:
    """Hold every upstream answer until the returned event is set.

    A fixed ``upstream.delay`` would race the test's own premise: 40 admissions in one
    process on two cores take 0.25-0.7 s under the GIL, close to any short delay, and a
    winner that settles early frees credits for a 41st admission. The gate keeps every
    admitted request in flight until all the refusals are back, however slow the machine.
    """
    gate = threading.Event()
    answer = FakeHandler.do_POST

    def gated(handler: FakeHandler) -> None:
        gate.wait(timeout=20)
        answer(handler)

    # Patched on the class, not by swapping the server's handler class: the gateway keeps
    # its upstream connections alive, and a kept connection keeps its handler instance.
    monkeypatch.setattr(FakeHandler, "do_POST", gated)
    return gate


def run_race(
    live_server, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch, account: Account
) -> Race:
    """40 chat completions released at the same instant (threading.Barrier) while the
    account is polled; the upstream answers once the 30 losers have their 402.

    Each client first opens its keep-alive connection (one GET), as clients behind a load
    balancer do: the live server listens with a backlog of 10 (Django's
    ``WSGIServer.request_queue_size``), and 40 connects at once overflow it and get reset.
    The race is then between the 40 requests themselves, not their TCP handshakes.
    """
    gate = gate_upstream(monkeypatch, upstream)
    url = live_server.url
    sessions = [requests.Session() for _ in range(REQUESTS)]
    for session in sessions:
        session.get(url + "/v1/models", timeout=10).raise_for_status()
    barrier = threading.Barrier(REQUESTS)
    lock = threading.Lock()
    all_refused = threading.Event()
    results: list[tuple[int, dict[str, Any]]] = []
    body = {"model": "test/echo", "max_tokens": MAX_TOKENS, "messages": MESSAGES}
    headers = {"Authorization": f"Bearer {account.secret}"}

    def one(session: requests.Session) -> None:
        barrier.wait()
        resp = session.post(url + "/v1/chat/completions", json=body, headers=headers, timeout=30)
        with lock:
            results.append((resp.status_code, resp.json()))
            if sum(status == 402 for status, _ in results) == REQUESTS - WINNERS:
                all_refused.set()

    poller = Poller(account)
    threads = [threading.Thread(target=one, args=(s,)) for s in sessions]
    started = time.monotonic()
    poller.start()
    try:
        for t in threads:
            t.start()
        all_refused.wait(timeout=20)
        peak = (*account_row(account), key_held(account))
        gate.set()
        for t in threads:
            t.join(timeout=30)
    finally:
        gate.set()
        poller.stop.set()
        poller.join(timeout=10)
        for session in sessions:
            session.close()
    seconds = time.monotonic() - started
    assert poller.error is None
    assert len(results) == REQUESTS, "a request never came back"
    costs = [body["usage"]["cost"] for status, body in results if status == 200]
    codes = [body["error"]["code"] for status, body in results if status == 402]
    assert len(costs) + len(codes) == REQUESTS, sorted({status for status, _ in results})
    return Race(costs=costs, codes=codes, peak=peak, poller=poller, seconds=seconds)


def account_row(account: Account) -> tuple[int, int]:
    return CreditAccount.objects.values_list("balance", "held").get(
        pk=account.user.credit_account.pk
    )


def key_held(account: Account) -> int:
    return sum(KeySpend.objects.filter(api_key=account.key).values_list("held", flat=True))


def assert_settled(account: Account, initial: int, costs: list[int]) -> None:
    """Every invariant after the race: money adds up three ways, nothing left held."""
    account_row = CreditAccount.objects.get(pk=account.user.credit_account.pk)
    usage = LedgerEntry.objects.filter(account=account_row, kind="usage")
    assert initial - account_row.balance == -sum(e.amount for e in usage) == sum(costs)
    assert usage.count() == WINNERS
    assert Generation.objects.filter(status="success").count() == WINNERS
    assert account_row.held == 0
    assert Hold.objects.count() == 0
    call_command("verify_ledger", stdout=None)


@pytest.mark.timeout(60)
def test_forty_requests_race_for_ten_holds_of_credits(
    transactional_db, live_server, upstream, monkeypatch, make_model, make_account
):
    # given an account that can hold exactly 10 requests (and 1 credit short of an 11th)
    model = make_model("test/echo", prompt="1.5", completion="6.25", request="0")
    hold = hold_of(MESSAGES, max_tokens=MAX_TOKENS, context_length=model.context_length)
    initial = WINNERS * hold + hold - 1
    account = make_account(initial)
    # when 40 requests arrive at once
    race = run_race(live_server, upstream, monkeypatch, account)
    # then exactly 10 are served and 30 refused for lack of credits
    assert len(race.costs) == WINNERS
    assert race.codes == ["insufficient_credits"] * (REQUESTS - WINNERS)
    assert all(0 < cost <= hold for cost in race.costs)
    # and all 10 were held at once, leaving less than one more hold available
    assert race.peak == (initial, WINNERS * hold, 0)
    # and the balance never went below zero, nor held above the balance, while it ran
    samples = race.poller.samples
    assert len(samples) > 10
    assert min(balance for balance, _ in samples) >= 0
    assert all(0 <= held <= min(balance, WINNERS * hold) for balance, held in samples)
    # and the money adds up: balance change == usage ledger == the responses' costs
    assert_settled(account, initial, race.costs)
    assert race.seconds < 30


@pytest.mark.timeout(60)
def test_forty_requests_race_for_ten_holds_of_a_key_limit(
    transactional_db, live_server, upstream, monkeypatch, make_model, make_account
):
    # given a rich account whose key may spend exactly 10 holds this month (1 credit short
    # of an 11th)
    model = make_model("test/echo", prompt="1.5", completion="6.25", request="0")
    hold = hold_of(MESSAGES, max_tokens=MAX_TOKENS, context_length=model.context_length)
    initial = 10_000_000
    account = make_account(initial, monthly_limit=WINNERS * hold + hold - 1)
    # when 40 requests arrive at once
    race = run_race(live_server, upstream, monkeypatch, account)
    # then exactly 10 are served and 30 refused by the key's limit
    assert len(race.costs) == WINNERS
    assert race.codes == ["key_limit_exceeded"] * (REQUESTS - WINNERS)
    # and all 10 were held at once, on the account and on the key's month
    assert race.peak == (initial, WINNERS * hold, WINNERS * hold)
    # and the key's month never held or spent more than the limit allows
    assert race.poller.key_samples
    assert all(spent + held <= WINNERS * hold for spent, held in race.poller.key_samples)
    # and the key's month records exactly what was charged, nothing left held
    spend = KeySpend.objects.get(api_key=account.key)
    assert (spend.spent, spend.held) == (sum(race.costs), 0)
    assert_settled(account, initial, race.costs)
    assert race.seconds < 30


@pytest.mark.parametrize("limit_by", ["account", "key"])
@pytest.mark.timeout(60)
def test_fifty_reservations_race_in_the_service(transactional_db, make_account, limit_by):
    # given 1,000 credits to spend (on the account, or as the key's monthly limit)
    amount, budget, n = 70, 1_000, 50
    if limit_by == "account":
        account = make_account(budget)
    else:
        account = make_account(1_000_000, monthly_limit=budget)
    account_id = account.user.credit_account.pk
    barrier = threading.Barrier(n)
    won: list[int] = []
    refused: list[str] = []
    errors: list[BaseException] = []

    def reserve(i: int) -> None:
        try:
            barrier.wait()
            credits_reserve(
                account_id=account_id,
                api_key_id=account.key.pk,
                monthly_limit=account.key.monthly_limit,
                amount=amount,
                request_id=f"race-{i}",
                ttl_seconds=900,
            )
            won.append(i)
        except (InsufficientCredits, KeyLimitExceeded) as exc:
            refused.append(exc.code)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    # when 50 threads each try to hold 70 at once
    threads = [threading.Thread(target=reserve, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    # then exactly floor(1000 / 70) = 14 win, and the rest are refused with the right code
    assert errors == []
    assert len(won) == budget // amount == 14
    code = "insufficient_credits" if limit_by == "account" else "key_limit_exceeded"
    assert refused == [code] * (n - 14)
    assert Hold.objects.count() == 14
    assert CreditAccount.objects.get(pk=account_id).held == 14 * amount
    if limit_by == "key":
        assert KeySpend.objects.get(api_key=account.key).held == 14 * amount
    call_command("verify_ledger", stdout=None)
