"""Seed the benchmark database through the project's own services, and check it afterwards.

``python -m bench.seed seed --upstream-url http://127.0.0.1:9100/v1 [--users N]``: a
provider pointing at the fake upstream, one priced model, N users with plenty of credits
and one API key each; prints one JSON line with the keys.

``python -m bench.seed verify --expect-min A --expect-max B``: the ledger invariants
(``manage.py verify_ledger`` when it exists, else ``billing.selectors.ledger_breaches``),
usage ledger entries against the balance change, and the number of billed Generation rows
against the successful requests the load generator counted (between the 2xx it saw and
that plus the requests still in flight when it stopped); prints one JSON line.

Both need DJANGO_SETTINGS_MODULE and DATABASE_URL in the environment.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

MODEL_ID = "bench/echo"
PROVIDER = "bench-fake"
EMAIL = "bench@example.com"  # the first user; the others are bench2@..., bench3@...
GRANT = 10**13  # credits (10 million USD): never the limiting factor


def _setup() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
    django.setup()


def email_of(i: int) -> str:
    return EMAIL if i == 0 else f"bench{i + 1}@example.com"


def seed(upstream_url: str, key_env: str, users: int) -> dict[str, object]:
    _setup()
    from accounts.services import apikey_create, user_create
    from billing.services import credits_grant
    from catalog.services import catalog_import

    catalog_import(
        data={
            "providers": [
                {
                    "slug": PROVIDER,
                    "name": "Benchmark fake",
                    "dialect": "openai",
                    "base_url": upstream_url,
                    "api_key_env": key_env,
                }
            ],
            "models": [
                {
                    "id": MODEL_ID,
                    "name": "Bench Echo",
                    "aliases": ["bench-echo"],
                    "context_length": 32768,
                    "max_output_tokens": 4096,
                    "supported_parameters": ["max_tokens", "temperature"],
                    "pricing": {
                        "prompt": "1.00",
                        "completion": "2.00",
                        "request": "0",
                        "image": "0",
                    },
                    "routes": [{"provider": PROVIDER, "upstream_model": "echo", "priority": 10}],
                }
            ],
        }
    )
    keys, user_ids = [], []
    for i in range(users):
        user = user_create(email=email_of(i))
        credits_grant(user_id=user.pk, amount=GRANT, memo="benchmark")
        keys.append(apikey_create(user=user, name="bench", ignore_tier=True).secret)
        user_ids.append(user.pk)
    return {"keys": keys, "user_ids": user_ids, "model": MODEL_ID, "grant": GRANT}


def verify(expect_min: int, expect_max: int) -> dict[str, object]:
    _setup()
    from django.core.management import CommandError, call_command, get_commands
    from django.db.models import Sum

    from billing.models import CreditAccount, Hold, LedgerEntry
    from billing.selectors import ledger_breaches
    from gateway.models import Generation

    out: dict[str, object] = {}
    if "verify_ledger" in get_commands():
        buf = io.StringIO()
        try:
            call_command("verify_ledger", stdout=buf, stderr=buf)
            out["verify_ledger"] = {"ok": True, "output": buf.getvalue().strip()[-2000:]}
        except (SystemExit, CommandError) as exc:
            text = f"{buf.getvalue()}\n{exc}".strip()
            out["verify_ledger"] = {"ok": False, "output": text[-2000:]}
        except Exception as exc:
            out["verify_ledger"] = {"ok": False, "output": f"{buf.getvalue()}\n{exc!r}"[-2000:]}
    else:
        out["verify_ledger"] = None
    breaches = ledger_breaches()
    out["breaches"] = breaches[:20]
    accounts = CreditAccount.objects.filter(user__email__startswith="bench")
    totals = accounts.aggregate(balance=Sum("balance"), held=Sum("held"))
    balance, held = totals["balance"] or 0, totals["held"] or 0
    entries = LedgerEntry.objects.filter(account__in=accounts)
    granted = entries.exclude(kind=LedgerEntry.Kind.USAGE).aggregate(s=Sum("amount"))["s"] or 0
    usage = entries.filter(kind=LedgerEntry.Kind.USAGE)
    usage_sum = usage.aggregate(s=Sum("amount"))["s"] or 0
    gens = Generation.objects.filter(user__email__startswith="bench")
    billed = gens.filter(status=Generation.Status.SUCCESS)
    n_billed = billed.count()
    # a stream the client left, or that failed after delivering, is charged too (cancelled)
    charged = gens.filter(ledger_entry__isnull=False)
    n_charged = charged.count()
    out.update(
        accounts=accounts.count(),
        balance=balance,
        held=held,
        open_holds=Hold.objects.filter(account__in=accounts).count(),
        granted=granted,
        usage_entries=usage.count(),
        usage_sum=usage_sum,
        balance_change=balance - granted,
        generations=gens.count(),
        failed_generations=gens.exclude(status=Generation.Status.SUCCESS).count(),
        billed_generations=n_billed,
        billed_cost=billed.aggregate(s=Sum("cost"))["s"] or 0,
        billed_without_entry=billed.filter(ledger_entry__isnull=True).count(),
        charged_generations=n_charged,
        charged_cost=charged.aggregate(s=Sum("cost"))["s"] or 0,
        expect_min=expect_min,
        expect_max=expect_max,
    )
    checks = {
        "ledger invariants": not breaches
        and (out["verify_ledger"] is None or bool(out["verify_ledger"]["ok"])),
        "usage entries sum == balance change": usage_sum == balance - granted,
        "no open holds": held == 0 and out["open_holds"] == 0,
        "billed Generation rows == successful requests": expect_min <= n_billed <= expect_max,
        "one usage entry per charged Generation, none missing on a billed one": usage.count()
        == n_charged
        and out["billed_without_entry"] == 0,
        "sum of charged Generation.cost == -usage sum": (out["charged_cost"] == -usage_sum),
    }
    out["checks"] = checks
    out["ok"] = all(checks.values())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("seed")
    s.add_argument("--upstream-url", required=True)
    s.add_argument("--key-env", default="BENCH_UPSTREAM_KEY")
    s.add_argument("--users", type=int, default=1)
    v = sub.add_parser("verify")
    v.add_argument("--expect-min", type=int, required=True)
    v.add_argument("--expect-max", type=int, required=True)
    args = parser.parse_args()
    if args.cmd == "seed":
        result = seed(args.upstream_url, args.key_env, args.users)
    else:
        result = verify(args.expect_min, args.expect_max)
    print("BENCH_JSON " + json.dumps(result, default=str), flush=True)


if __name__ == "__main__":
    main()
