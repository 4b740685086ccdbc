"""``manage.py verify_ledger``: passes on a database written by real requests, and fails
with a non-zero exit on every kind of corruption it is meant to catch."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from billing.models import CreditAccount, Hold, KeySpend, LedgerEntry
from billing.services import credits_settle
from gateway.models import Generation, UsageDaily
from tests.factories import Account

CHAT = "/v1/chat/completions"


def ask(api, account: Account, model: str = "test/echo", words: str = "one two three") -> int:
    resp = api.post(
        CHAT,
        {"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": words}]},
        account=account,
    )
    return resp.status_code


@pytest.fixture
def traffic(api, make_model, make_account, upstream) -> dict[str, Account]:
    """A database written by real requests: successes on two accounts (one key-limited), an
    upstream failure, a refusal for lack of credits, and a request still in flight."""
    make_model("test/echo")
    make_model("test/broken", upstream_models=("fail-500",))
    rich = make_account(1_000_000)
    limited = make_account(1_000_000, monthly_limit=100_000)
    poor = make_account(50)
    assert [ask(api, rich), ask(api, rich, words="four five six seven")] == [200, 200]
    assert ask(api, limited) == 200
    assert ask(api, rich, model="test/broken") == 502
    assert ask(api, poor) == 402
    Hold.objects.create(
        account=rich.user.credit_account,
        amount=500,
        request_id="gen-in-flight",
        expires_at=timezone.now() + dt.timedelta(minutes=15),
    )
    CreditAccount.objects.filter(pk=rich.user.credit_account.pk).update(held=500)
    return {"rich": rich, "limited": limited, "poor": poor}


def verify() -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("verify_ledger", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def breaches() -> str:
    err = StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("verify_ledger", stdout=StringIO(), stderr=err)
    assert exc.value.returncode == 1
    return err.getvalue()


def raw(sql: str, params: list[object]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_passes_after_real_requests(traffic):
    # given the traffic above: 3 settled, 1 failed, 1 refused, 1 in flight
    assert Generation.objects.filter(status="success").count() == 3
    assert Generation.objects.filter(status="error", ledger_entry=None).count() == 1
    assert Generation.objects.filter(status="refused", ledger_entry=None, cost=0).count() == 1
    # when the ledger is verified
    out, err = verify()
    # then every invariant holds and the summary counts what was checked
    assert err == ""
    assert out.strip() == (
        "ledger OK: 3 accounts, 6 entries, 1 holds, 1 key spends, 5 generations checked"
    )


def test_a_corrupted_balance_fails(traffic):
    # given a balance changed behind the ledger's back
    account = traffic["rich"].user.credit_account
    raw("UPDATE billing_creditaccount SET balance = balance + 1 WHERE id = %s", [account.pk])
    # then verify_ledger names it
    balance = CreditAccount.objects.get(pk=account.pk).balance
    assert f"account {account.pk}: balance {balance} != ledger sum {balance - 1}" in breaches()


@pytest.mark.django_db(transaction=True)
def test_exit_status_is_non_zero_on_a_breach(traffic, capsys):
    # given a corrupted balance, when run as `manage.py verify_ledger`, it exits 1
    account = traffic["poor"].user.credit_account
    raw("UPDATE billing_creditaccount SET balance = balance - 7 WHERE id = %s", [account.pk])
    with pytest.raises(SystemExit) as exc:
        execute_from_command_line(["manage.py", "verify_ledger"])
    assert exc.value.code == 1
    captured = capsys.readouterr()
    assert f"account {account.pk}: balance 43 != ledger sum 50" in captured.err
    assert "ledger OK" not in captured.out


def test_held_out_of_step_with_open_holds_fails(traffic):
    account = traffic["rich"].user.credit_account
    raw("UPDATE billing_creditaccount SET held = held + 10 WHERE id = %s", [account.pk])
    assert f"account {account.pk}: held 510 != open holds 500" in breaches()


def test_key_spend_held_out_of_step_fails(traffic):
    key = traffic["limited"].key
    KeySpend.objects.filter(api_key=key).update(held=5)
    assert "held 5 != open holds 0" in breaches()


def test_a_wrong_running_balance_fails(traffic):
    entry = LedgerEntry.objects.filter(kind="usage").order_by("pk").first()
    raw(
        "UPDATE billing_ledgerentry SET balance_after = balance_after + 3 WHERE id = %s",
        [entry.pk],
    )
    assert f"ledger entry {entry.pk} of account {entry.account_id}: balance_after" in breaches()


def test_a_stale_hold_fails(traffic):
    Hold.objects.filter(request_id="gen-in-flight").update(
        expires_at=timezone.now() - dt.timedelta(hours=1)
    )
    assert "hold " in breaches()
    assert "(gen-in-flight) outlived its request" in breaches()


def test_a_usage_entry_without_its_generation_fails(traffic):
    gen = Generation.objects.filter(status="success").order_by("pk").first()
    raw("DELETE FROM gateway_generation WHERE id = %s", [gen.pk])
    assert f"ledger entry {gen.ledger_entry_id}: usage '{gen.request_id}'" in breaches()


def test_a_generation_whose_cost_differs_from_its_entry_fails(traffic):
    gen = Generation.objects.filter(status="success").order_by("pk").first()
    Generation.objects.filter(pk=gen.pk).update(cost=gen.cost + 1)
    assert f"generation {gen.request_id}: cost {gen.cost + 1} but its ledger entry" in breaches()


def test_a_settled_generation_without_an_entry_fails(traffic):
    gen = Generation.objects.filter(status="error").get()
    Generation.objects.filter(pk=gen.pk).update(status="success")
    assert f"generation {gen.request_id}: success but no ledger entry" in breaches()


def test_an_entry_of_another_request_fails(traffic):
    # given two settled generations whose entries are swapped
    first, second = Generation.objects.filter(status="success").order_by("pk")[:2]
    Generation.objects.filter(pk__in=[first.pk, second.pk]).update(ledger_entry=None)
    Generation.objects.filter(pk=first.pk).update(ledger_entry=second.ledger_entry_id)
    Generation.objects.filter(pk=second.pk).update(ledger_entry=first.ledger_entry_id)
    # then both are named
    found = breaches()
    assert f"generation {first.request_id}: cost" in found
    assert f"generation {second.request_id}: cost" in found


def test_an_unsettled_usage_entry_from_a_late_settle_is_caught(traffic, reserve):
    # given a usage entry written by billing alone, with no Generation record
    hold = reserve(traffic["rich"], 300)
    credits_settle(hold=hold, cost=120)
    # then the gateway's check names it
    assert f"usage '{hold.request_id}' of -120 has no generation" in breaches()


def test_a_tampered_rollup_fails(traffic):
    # given the rollups of the traffic above, equal to its settled requests
    rich = traffic["rich"]
    bucket = UsageDaily.objects.get(user=rich.user, key_id=rich.key.pk, model="test/echo")
    settled = Generation.objects.filter(user=rich.user, status="success")
    assert bucket.requests == 2 and bucket.cost == sum(g.cost for g in settled) > 0
    prompt = sum(g.prompt_tokens for g in settled)
    completion = sum(g.completion_tokens for g in settled)
    assert (bucket.prompt_tokens, bucket.completion_tokens) == (prompt, completion)
    # when one bucket's cost is raised by a credit, and another bucket appears from nowhere
    UsageDaily.objects.filter(pk=bucket.pk).update(cost=bucket.cost + 1)
    UsageDaily.objects.create(
        user=rich.user,
        key_id=rich.key.pk,
        model="test/ghost",
        surface="chat.completions",
        day=bucket.day,
        requests=3,
    )
    # then verify_ledger names both, with the rollup's and the request log's sums
    found = breaches()
    sums = (2, prompt, completion, bucket.cost)
    assert (
        f"rollup user {rich.user.pk} key {rich.key.pk} test/echo {bucket.surface} {bucket.day}: "
        "(requests, "
        f"prompt tokens, completion tokens, cost) {(2, prompt, completion, bucket.cost + 1)} "
        f"but the settled request log sums to {sums}"
    ) in found
    assert (
        f"rollup user {rich.user.pk} key {rich.key.pk} test/ghost chat.completions {bucket.day}: "
        "(requests, "
        "prompt tokens, completion tokens, cost) (3, 0, 0, 0) but the settled request log "
        "sums to (0, 0, 0, 0)"
    ) in found
    assert found.count("rollup user") == 2


def test_a_rollup_counted_on_the_day_after_its_request_passes(traffic):
    # given a settled request created just before midnight whose rollup is the next day's
    # (a settle across midnight), and a deleted key's requests (no key in the log)
    rich = traffic["rich"]
    gen = Generation.objects.filter(user=rich.user, status="success").order_by("pk").first()
    day = gen.created_at.astimezone(dt.UTC).date()
    late = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC) - dt.timedelta(microseconds=1)
    Generation.objects.filter(pk=gen.pk).update(created_at=late)
    limited = traffic["limited"]
    limited.key.delete()
    # then verify_ledger still passes
    out, err = verify()
    assert err == "" and out.startswith("ledger OK")
    # but a request moved two days away is a breach
    Generation.objects.filter(pk=gen.pk).update(created_at=late - dt.timedelta(days=1))
    assert breaches().count("rollup user") == 2
