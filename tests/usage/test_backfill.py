"""Migration 0007 builds the rollups from the request log once: the settled Generations'
sums per (user, key, model, UTC day), a deleted key's requests under key 0, failures and
refusals left out, and rows already there replaced rather than added to. Migration 0010
rebuilds them the same way with the surface in the bucket."""

from __future__ import annotations

import datetime as dt
import importlib

from django.apps import apps

from billing.models import CreditAccount, LedgerEntry
from gateway.models import Generation, UsageDaily
from tests.factories import AccountFactory
from tests.usage.rollup_world import generation_sums, rollups

backfill = importlib.import_module("gateway.migrations.0007_usagedaily_backfill")
by_surface = importlib.import_module("gateway.migrations.0010_usagedaily_surface")


def generation(user_id: int, key_id: int | None, model: str, at: dt.datetime, cost: int, **kw):
    entry = None
    if kw.pop("settled", True):
        account = CreditAccount.objects.get(user_id=user_id)
        entry = LedgerEntry.objects.create(
            account=account,
            amount=-cost,
            kind="usage",
            reference=f"gen-bf-{at}-{cost}",
            balance_after=0,
        )
    row = Generation.objects.create(
        request_id=f"gen-bf-{Generation.objects.count()}",
        user_id=user_id,
        api_key_id=key_id,
        model=model,
        surface=kw.pop("surface", "chat.completions"),
        status=kw.pop("status", "success"),
        http_status=kw.pop("http_status", 200),
        cost=cost,
        ledger_entry=entry,
        **kw,
    )
    Generation.objects.filter(pk=row.pk).update(created_at=at)


def test_the_backfill_sums_the_settled_request_log(make_account: AccountFactory) -> None:
    a = make_account(1_000)
    late = dt.datetime(2026, 11, 30, 23, 59, 59, tzinfo=dt.UTC)
    early = dt.datetime(2026, 12, 1, 0, 0, 1, tzinfo=dt.UTC)
    generation(a.user.pk, a.key.pk, "m/a", late, 10, prompt_tokens=3, completion_tokens=4)
    generation(a.user.pk, a.key.pk, "m/a", early, 20, prompt_tokens=5, completion_tokens=6)
    generation(a.user.pk, a.key.pk, "m/a", early, 1, prompt_tokens=1, completion_tokens=1)
    generation(a.user.pk, None, "m/a", early, 7)  # a deleted key's
    generation(a.user.pk, a.key.pk, "m/a", early, 0, settled=False, status="error", http_status=502)
    generation(
        a.user.pk, a.key.pk, "m/a", early, 0, settled=False, status="refused", http_status=402
    )
    UsageDaily.objects.create(
        user_id=a.user.pk, key_id=a.key.pk, model="m/a", day=early.date(), requests=5, cost=999
    )
    backfill.rollups_rebuild(apps, None)
    assert rollups() == {
        (a.user.pk, a.key.pk, "m/a", late.date()): (1, 3, 4, 10),
        (a.user.pk, a.key.pk, "m/a", early.date()): (2, 6, 7, 21),
        (a.user.pk, 0, "m/a", early.date()): (1, 0, 0, 7),
    }
    assert rollups() == generation_sums()


def test_the_surface_rebuild_splits_each_bucket_by_surface(make_account: AccountFactory) -> None:
    a = make_account(1_000)
    day = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
    generation(a.user.pk, a.key.pk, "m/a", day, 10, prompt_tokens=3, completion_tokens=4)
    generation(a.user.pk, a.key.pk, "m/a", day, 20, surface="messages", prompt_tokens=5)
    generation(a.user.pk, a.key.pk, "m/a", day, 30, surface="messages", completion_tokens=2)
    generation(a.user.pk, a.key.pk, "m/a", day, 0, settled=False, status="error", surface="x")
    # a bucket written before the surface was in the key (surface empty)
    UsageDaily.objects.create(
        user_id=a.user.pk, key_id=a.key.pk, model="m/a", day=day.date(), requests=3, cost=60
    )
    by_surface.rollups_rebuild(apps, None)
    got = {
        b[:2]: b[2:]
        for b in UsageDaily.objects.values_list(
            "surface", "day", "requests", "prompt_tokens", "completion_tokens", "cost"
        )
    }
    assert got == {
        ("chat.completions", day.date()): (1, 3, 4, 10),
        ("messages", day.date()): (2, 5, 2, 50),
    }
