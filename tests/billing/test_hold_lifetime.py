"""A hold's lifetime: it outlives its request (a long stream is never swept while it runs,
so it is charged in full and its hold keeps bounding the balance), every request ends at
its deadline, and the sweeper charges a dead stream's last checkpoint exactly once, writing
its record as ``interrupted``."""

from __future__ import annotations

import datetime as dt
import io
import threading
import time
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from billing.models import Hold, LedgerEntry
from billing.selectors import ledger_breaches
from billing.services import HoldRef, credits_reserve, credits_settle, hold_checkpoint
from gateway.models import Generation
from gateway.records.invariants import generation_ledger_breaches
from gateway.records.selectors import sweep_age_seconds
from gateway.records.sweeper import generation_interrupt, holds_sweep
from tests.billing.conftest import account_row, key_spend_row, request_id_new
from tests.factories import Account, AccountFactory, ModelFactory
from tests.fakes.upstream import FakeUpstream
from tests.helpers import ApiClient, assert_not_charged, chat_body, cost_of
from tests.sse import (
    content_chunks,
    estimate,
    estimated_completion,
    ledger_verified,
    sse_chunks,
)

PROMPT, COMPLETION = "20", "55"
WORDS = " ".join(f"w{i}" for i in range(1, 17))  # the reply: "echo:" and 16 words


def stream_model(make_model: ModelFactory, *routes: str) -> None:
    make_model(
        "test/long", upstream_models=routes or ("echo",), prompt=PROMPT, completion=COMPLETION
    )


# --- a live request keeps its hold ----------------------------------------------------------


@override_settings(BILLING_HOLD_TTL_SECONDS=1, BILLING_HOLD_STALE_SECONDS=3)
def test_a_stream_longer_than_the_ttl_keeps_its_hold_and_is_charged_in_full(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory, upstream: FakeUpstream
) -> None:
    # given a balance that covers one stream's hold but not two, and a ~4 s stream (17
    # chunks 0.25 s apart) when holds live 1 s past the deadline and streams go stale in 3 s
    stream_model(make_model)
    account = make_account(40_000)
    upstream.chunk_delay = 0.25
    body = {**chat_body("test/long", WORDS), "max_tokens": 500, "stream": True}
    began = time.monotonic()
    resp = api.post("/v1/chat/completions", body, account=account)
    request_id = resp["X-Request-Id"]
    hold = Hold.objects.get(request_id=request_id)
    assert hold.amount > 20_000  # more than half the balance: a second one cannot be held
    # when the sweeper runs after every chunk while the stream goes on, and a second
    # request asks for the same hold once the first has outlived the TTL
    raw, swept, second = b"", [], None
    for piece in resp.streaming_content:
        raw += piece
        report = holds_sweep()
        swept.append((report.released, report.interrupted))
        if second is None and time.monotonic() - began > 2.0:
            second = api.post("/v1/chat/completions", {**body, "stream": False}, account=account)
            assert Hold.objects.filter(request_id=request_id).exists()
    elapsed = time.monotonic() - began
    # then the stream outlived the TTL and the stale time, and its hold was never taken
    assert elapsed > 3.5
    assert set(swept) == {(0, 0)}
    # and while it ran its hold still bounded the balance: the second request was refused
    assert second is not None and second.status_code == 402
    assert second.json()["error"]["code"] == "insufficient_credits"
    # and the stream was charged its full usage, once
    assert "".join(content_chunks(sse_chunks(raw))) == "echo: " + WORDS
    expected = cost_of(prompt_tokens=10, completion_tokens=17, prompt=PROMPT, completion=COMPLETION)
    gen = Generation.objects.get(request_id=request_id)
    assert (gen.status, gen.cost, gen.usage_estimated) == ("success", expected, False)
    assert account.balance() == 40_000 - expected
    ledger_verified(account)


def test_a_request_hold_expires_after_its_deadline(
    make_account: AccountFactory, api: ApiClient, make_model: ModelFactory, upstream: FakeUpstream
) -> None:
    # given the default deadline (600 s) and margin (300 s)
    stream_model(make_model)
    account = make_account(1_000_000)
    # when a stream starts
    resp = api.post(
        "/v1/chat/completions", {**chat_body("test/long"), "stream": True}, account=account
    )
    hold = Hold.objects.get(request_id=resp["X-Request-Id"])
    b"".join(resp.streaming_content)
    # then its hold was set to expire after the deadline and the margin, and is a stream's
    lifetime = (hold.expires_at - hold.created_at).total_seconds()
    assert 899 <= lifetime <= 901
    assert hold.is_streamed is True
    ledger_verified(account)


# --- the deadline ---------------------------------------------------------------------------


@override_settings(GATEWAY_REQUEST_DEADLINE_SECONDS=1.0)
def test_the_deadline_ends_a_long_non_streamed_call_and_releases_its_hold(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory, upstream: FakeUpstream
) -> None:
    # given a first route that answers after 3 s (the read timeout is 300 s) and a working
    # second one, under a 1 s deadline
    stream_model(make_model, "timeout", "echo")
    account = make_account(1_000_000)
    # when a non-streamed call is made
    began = time.monotonic()
    resp = api.post("/v1/chat/completions", chat_body("test/long"), account=account)
    elapsed = time.monotonic() - began
    # then it ended at the deadline with a provider error, with no time left to fail over
    assert elapsed < 2.5
    assert resp.status_code == 502
    error = resp.json()["error"]
    assert error["code"] == "provider_error"
    assert "deadline of 1 s" in error["message"]
    # and nothing was charged or left held; the record says so
    assert_not_charged(account, 1_000_000)
    gen = Generation.objects.get(request_id=resp["X-Request-Id"])
    assert (gen.status, gen.http_status, gen.cost) == ("error", 502, 0)
    assert [a["provider"] for a in gen.attempts] == ["fake"]


@override_settings(GATEWAY_REQUEST_DEADLINE_SECONDS=1.5)
def test_the_deadline_ends_a_long_stream_billing_what_was_delivered(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory, upstream: FakeUpstream
) -> None:
    # given a ~5 s stream (17 chunks 0.3 s apart) under a 1.5 s deadline
    stream_model(make_model)
    account = make_account(1_000_000)
    upstream.chunk_delay = 0.3
    # when it is streamed
    began = time.monotonic()
    resp = api.post(
        "/v1/chat/completions", {**chat_body("test/long", WORDS), "stream": True}, account=account
    )
    raw = b"".join(resp.streaming_content)
    elapsed = time.monotonic() - began
    # then it was cut at the deadline with a closing error event
    assert elapsed < 2.5
    chunks = sse_chunks(raw)
    delivered = content_chunks(chunks)
    assert 2 <= len(delivered) < 17
    assert chunks[-1]["error"]["code"] == "provider_error"
    assert "deadline of 1.5 s" in chunks[-1]["error"]["message"]
    # and what was delivered was charged, as for an upstream error mid-stream
    expected = cost_of(
        prompt_tokens=estimate(WORDS),
        completion_tokens=estimated_completion(delivered),
        prompt=PROMPT,
        completion=COMPLETION,
    )
    gen = Generation.objects.get(request_id=resp["X-Request-Id"])
    assert (gen.status, gen.cost, gen.usage_estimated) == ("error", expected, True)
    assert account.balance() == 1_000_000 - expected
    ledger_verified(account)


# --- the sweeper and checkpoints ------------------------------------------------------------


def stream_hold(account: Account, amount: int, *, credits: int | None, age: float) -> HoldRef:
    """A stream's hold; with ``credits``, a checkpoint of that many credits ``age`` seconds
    old (without, the hold itself is ``age`` seconds old)."""
    hold = credits_reserve(
        account_id=account.user.credit_account.pk,
        api_key_id=account.key.pk,
        monthly_limit=account.key.monthly_limit,
        amount=amount,
        request_id=request_id_new(),
        ttl_seconds=900,
        is_streamed=True,
    )
    past = timezone.now() - dt.timedelta(seconds=age)
    if credits is None:
        Hold.objects.filter(pk=hold.id).update(created_at=past)
        return hold
    started = past - dt.timedelta(seconds=5)  # it had streamed for 5 s
    assert hold_checkpoint(
        hold=hold,
        credits=credits,
        checkpoint=checkpoint_of(account, hold, started),
        ttl_seconds=900,
    )
    Hold.objects.filter(pk=hold.id).update(created_at=past, checkpoint_at=past)
    return hold


def checkpoint_of(account: Account, hold: HoldRef, started: dt.datetime) -> dict[str, Any]:
    return {
        "request_id": hold.request_id,
        "user_id": account.user.pk,
        "api_key_id": account.key.pk,
        "surface": "chat.completions",
        "model": "test/long",
        "route_id": None,
        "provider": "Fake",
        "upstream_model": "echo",
        "prices": {"prompt": PROMPT, "completion": COMPLETION},
        "started_at": started.isoformat(),
        "ttft_ms": 120,
        "finish_reason": "",
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 9,
            "cached_tokens": 0,
            "reasoning_tokens": 0,
        },
        "usage_estimated": True,
        "native_usage": {},
        "cost_breakdown": {"prompt": "200", "completion": "495"},
        "attempts": [{"provider": "fake", "status": 200}],
    }


def test_the_sweeper_charges_dead_streams_checkpoints_and_releases_the_rest(
    make_account: AccountFactory, reserve: Any
) -> None:
    # given a key-limited account with five holds:
    account = make_account(100_000, monthly_limit=1_000_000)
    dead = stream_hold(account, 2_500, credits=700, age=60)  # checkpoints stopped a minute ago
    over = stream_hold(account, 2_500, credits=5_000, age=60)  # a checkpoint above its hold
    mute = stream_hold(account, 1_000, credits=None, age=60)  # died before its first one
    live = stream_hold(account, 1_000, credits=300, age=1)  # checkpointed a second ago
    slow = reserve(account, 4_000)  # a non-streamed request: dead only once expired
    Hold.objects.filter(pk=slow.id).update(created_at=timezone.now() - dt.timedelta(hours=1))
    assert account_row(account) == (100_000, 11_000)
    # when the sweeper runs
    report = holds_sweep()
    # then the dead streams were charged their checkpoints (at most the hold), the one
    # without a checkpoint released, and the live and non-streamed ones left alone
    assert (report.released, report.interrupted, report.charged) == (1, 2, 700 + 2_500)
    assert account_row(account) == (100_000 - 3_200, 5_000)
    assert key_spend_row(account) == (3_200, 5_000)
    assert sorted(Hold.objects.values_list("pk", flat=True)) == sorted([live.id, slow.id])
    # and each dead stream has an interrupted record with its one ledger entry
    gens = {g.request_id: g for g in Generation.objects.all()}
    assert set(gens) == {dead.request_id, over.request_id}
    gen = gens[dead.request_id]
    assert (gen.status, gen.cost, gen.ledger_entry.amount) == ("interrupted", 700, -700)
    assert (gen.prompt_tokens, gen.completion_tokens, gen.usage_estimated) == (10, 9, True)
    assert (gen.model, gen.surface, gen.is_streamed, gen.error_code) == (
        "test/long",
        "chat.completions",
        True,
        "worker_lost",
    )
    assert 4_900 <= gen.latency_ms <= 5_100  # from the start to the last checkpoint
    assert gens[over.request_id].cost == 2_500
    assert not LedgerEntry.objects.filter(reference=mute.request_id).exists()
    assert ledger_breaches() == []
    assert generation_ledger_breaches() == []
    # and a second sweep finds nothing; the last run is recorded
    again = holds_sweep()
    assert (again.released, again.interrupted, again.charged) == (0, 0, 0)
    age = sweep_age_seconds()
    assert age is not None and 0 <= age < 5


def test_a_hold_settled_first_is_not_charged_again_by_the_sweeper(
    make_account: AccountFactory,
) -> None:
    # given a dead-looking stream whose own settle got there first
    account = make_account(100_000)
    hold = stream_hold(account, 2_500, credits=700, age=60)
    credits_settle(hold=hold, cost=900)
    # when the sweeper reaches it
    assert generation_interrupt(hold_id=hold.id) is None
    # then it charged nothing more and wrote no record
    assert account_row(account) == (100_000 - 900, 0)
    assert not Generation.objects.exists()
    assert holds_sweep().interrupted == 0


def test_holds_sweep_command_prints_what_it_did(make_account: AccountFactory) -> None:
    account = make_account(100_000)
    stream_hold(account, 2_500, credits=700, age=60)
    stream_hold(account, 1_000, credits=None, age=60)
    out = io.StringIO()
    call_command("holds_sweep", stdout=out)
    assert out.getvalue().strip() == (
        "holds swept: 1 released, 1 interrupted records written, 700 credits charged"
    )
    assert account_row(account) == (100_000 - 700, 0)


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locking")
def test_two_racing_sweeps_charge_each_dead_stream_exactly_once(
    transactional_db: None, make_account: AccountFactory
) -> None:
    # given 30 dead streams with checkpoints of 400 credits on holds of 1,000
    account = make_account(1_000_000, monthly_limit=5_000_000)
    holds = [stream_hold(account, 1_000, credits=400, age=60) for _ in range(30)]
    barrier = threading.Barrier(2)
    reports: list[tuple[int, int, int]] = []
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            barrier.wait()
            r = holds_sweep()
            reports.append((r.released, r.interrupted, r.charged))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    # when two sweepers run at once
    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    # then every hold was charged once, by one of them
    assert errors == []
    assert sum(r[1] for r in reports) == 30
    assert sum(r[2] for r in reports) == 30 * 400
    assert sum(r[0] for r in reports) == 0
    assert account_row(account) == (1_000_000 - 30 * 400, 0)
    assert key_spend_row(account) == (30 * 400, 0)
    assert Hold.objects.count() == 0
    assert LedgerEntry.objects.filter(kind="usage").count() == 30
    statuses = list(Generation.objects.values_list("status", flat=True))
    assert statuses == ["interrupted"] * 30
    assert {g.request_id for g in Generation.objects.all()} == {h.request_id for h in holds}
    assert ledger_breaches() == []
    assert generation_ledger_breaches() == []
