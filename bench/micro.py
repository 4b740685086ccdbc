"""CPU cost of each step of a billed request, measured alone (ms per call).

For every step of the request path (authentication, reserve, the upstream call, settle,
connection checkout, bare round trips), run it ``--n`` times and report the CPU time of this
process and of the bench database's PostgreSQL backends (from /proc) per call. Steps run
without gevent unless ``--gevent`` (then as in a worker, minus gunicorn). The "what-if"
steps do the same work written differently (bench/whatif_sql.py), for comparison.

Needs DATABASE_URL (a seeded bench database: ``bench/chat.py --keep-db``) and a running
fake upstream (``python -m bench.fake_upstream --port P``). Run::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gw_bench \\
      .venv/bin/python bench/micro.py --upstream-port 19100
"""

from __future__ import annotations

import sys

if "--gevent" in sys.argv:
    from gevent import monkey

    monkey.patch_all()

import argparse
import http.client
import os
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import urllib3

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from bench import procstat  # noqa: E402
from bench.djsetup import django_setup, provider_repoint  # noqa: E402
from bench.whatif_sql import RELEASE_SQL, RESERVE_SQL, SETTLE_SQL, settle_params  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--upstream-port", type=int, default=0)
    parser.add_argument("--only", default="", help="run the steps whose name contains this")
    parser.add_argument("--gevent", action="store_true", help="monkey-patch like the workers")
    args = parser.parse_args()

    django_setup()
    import psycopg
    from django.conf import settings
    from django.db import connection, transaction
    from django.test import Client

    from accounts.authentication import apikey_authenticate
    from accounts.models import User
    from accounts.services import apikey_create
    from bench.seed import EMAIL, MODEL_ID
    from billing.pricing import Usage, cost_compute
    from billing.selectors import spendable_get
    from billing.services import credits_release, credits_reserve
    from catalog.selectors import model_resolve
    from gateway.auth import apikey_with_account
    from gateway.providers import DIALECTS
    from gateway.services import Outcome, generation_settle

    provider_repoint(args.upstream_port)
    db = settings.DATABASES["default"]["NAME"]
    user = User.objects.get(email=EMAIL)
    secret = apikey_create(user=user, name="micro").secret
    meta = {"HTTP_AUTHORIZATION": f"Bearer {secret}", "REMOTE_ADDR": "127.0.0.1"}
    key = apikey_authenticate(meta, lookup=apikey_with_account)
    account_id = key.user.credit_account.pk
    model = model_resolve(name=MODEL_ID)
    route = model.routes[0]
    dialect = DIALECTS[route.dialect]
    body = {
        "model": MODEL_ID,
        "messages": [{"role": "user", "content": "Say hello to the benchmark"}],
        "max_tokens": 32,
    }
    counter = [0]

    def reserve():
        counter[0] += 1
        return credits_reserve(
            account_id=account_id,
            api_key_id=key.pk,
            monthly_limit=None,
            amount=1000,
            request_id=f"micro-{os.getpid()}-{counter[0]}-{time.time_ns()}",
            ttl_seconds=900,
        )

    def settle(hold) -> None:
        outcome = Outcome(
            request_id=hold.request_id,
            user_id=user.pk,
            api_key_id=key.pk,
            surface="chat.completions",
            model=MODEL_ID,
            route_id=route.id,
            provider=route.provider_name,
            upstream_model=route.upstream_model,
            prices=model.prices.as_dict(),
            usage=Usage(prompt_tokens=10, completion_tokens=5),
        )
        cost = cost_compute(usage=outcome.usage, prices=model.prices)
        generation_settle(hold=hold, outcome=outcome, cost=cost)

    raw = psycopg.connect(**_raw_params(settings.DATABASES["default"]), autocommit=True)
    client = Client(HTTP_HOST="127.0.0.1")

    def checkout() -> None:
        connection.ensure_connection()
        connection.close()

    def select1_django() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()

    def select1_raw() -> None:
        raw.execute("SELECT 1").fetchone()

    def auth() -> None:
        apikey_authenticate(meta, lookup=apikey_with_account)

    def auth_raw() -> None:
        raw.execute(
            "SELECT k.id, k.secret_hash, k.is_disabled, k.expires_at, k.allowed_ips, "
            "k.allowed_models, k.monthly_limit, k.rate_limit_rpm, u.is_active, "
            "u.is_api_enabled, a.id FROM accounts_apikey k JOIN accounts_user u ON "
            "u.id = k.user_id JOIN billing_creditaccount a ON a.user_id = u.id "
            "WHERE k.prefix = %s",
            [key.prefix],
        ).fetchone()

    def spendable() -> None:
        spendable_get(account_id=account_id, api_key_id=key.pk, monthly_limit=None)

    def reserve_release() -> None:
        credits_release(hold=reserve())

    def reserve_settle() -> None:
        settle(reserve())

    def upstream() -> None:
        dialect.complete(route, {**body})

    def empty_atomic_update() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE billing_creditaccount SET held = held WHERE id = %s", [1])

    def models_view() -> None:
        client.get("/v1/models")

    # --- what-ifs: the same work written differently (bench-local, for comparison) ---
    def reserve_raw() -> tuple[int, str]:
        counter[0] += 1
        rid = f"micro-raw-{os.getpid()}-{counter[0]}-{time.time_ns()}"
        with connection.cursor() as cursor:
            cursor.execute(
                RESERVE_SQL, {"account": account_id, "key": key.pk, "amount": 1000, "rid": rid}
            )
            row = cursor.fetchone()
        return int(row[0]), rid

    def reserve_release_raw() -> None:
        hold_id, _ = reserve_raw()
        with connection.cursor() as cursor:
            cursor.execute(RELEASE_SQL, {"hold": hold_id})

    def reserve_settle_raw() -> None:
        hold_id, rid = reserve_raw()
        usage = Usage(prompt_tokens=10, completion_tokens=5)
        cost = cost_compute(usage=usage, prices=model.prices)
        with connection.cursor() as cursor:
            cursor.execute(
                SETTLE_SQL,
                settle_params(
                    hold=hold_id,
                    cost=cost,
                    usage=usage,
                    key=key.pk,
                    rid=rid,
                    user=user.pk,
                    route=route,
                    model=model,
                    model_id=MODEL_ID,
                    native=orjson.dumps({"prompt_tokens": 10}).decode(),
                ),
            )
            cursor.fetchone()

    upstream_url = route.base_url + "/chat/completions"
    parts = urlsplit(upstream_url)
    payload = orjson.dumps({**body, "model": route.upstream_model})
    up_headers = {"Content-Type": "application/json", "Authorization": "Bearer x"}
    u3pool = urllib3.HTTPConnectionPool(parts.hostname, parts.port, maxsize=4, retries=False)
    hconn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)

    def upstream_urllib3() -> None:
        resp = u3pool.urlopen("POST", parts.path, body=payload, headers=up_headers)
        orjson.loads(resp.data)

    def upstream_httpclient() -> None:
        hconn.request("POST", parts.path, body=payload, headers=up_headers)
        orjson.loads(hconn.getresponse().read())

    steps: list[tuple[str, Callable[[], None]]] = [
        ("connection checkout + return (pool)", checkout),
        ("SELECT 1 via Django cursor", select1_django),
        ("SELECT 1 via raw psycopg", select1_raw),
        ("UPDATE in atomic() (1 tx)", empty_atomic_update),
        ("authenticate (the gateway's lookup)", auth),
        ("authenticate as one raw SQL", auth_raw),
        ("spendable_get (no max_tokens)", spendable),
        ("credits_reserve + credits_release", reserve_release),
        ("credits_reserve + generation_settle", reserve_settle),
        ("upstream call (the dialect, 50 ms delay)", upstream),
        ("test client GET /v1/models", models_view),
        ("what-if: reserve+release, 2 raw statements", reserve_release_raw),
        ("what-if: reserve+settle, 2 raw statements", reserve_settle_raw),
        ("what-if: upstream via urllib3 pool", upstream_urllib3),
        ("what-if: upstream via http.client", upstream_httpclient),
    ]
    print(f"{'step':44}{'ms CPU py':>11}{'ms CPU pg':>11}{'ms wall':>9}")
    if args.gevent:
        print("(gevent monkey-patched: psycopg waits through gevent's select.poll)")
    for name, fn in steps:
        if args.only and args.only not in name:
            continue
        for _ in range(10):
            fn()
        connection.close()
        p0, c0, w0 = procstat.backends_cpu(db), time.process_time(), time.perf_counter()
        for _ in range(args.n):
            fn()
        connection.close()
        c1, w1, p1 = time.process_time(), time.perf_counter(), procstat.backends_cpu(db)
        n = args.n
        print(
            f"{name:44}{(c1 - c0) / n * 1e3:>11.3f}{(p1 - p0) / n * 1e3:>11.3f}"
            f"{(w1 - w0) / n * 1e3:>9.2f}"
        )
    raw.close()


def _raw_params(cfg: dict) -> dict:
    return {
        k: v
        for k, v in {
            "dbname": cfg.get("NAME"),
            "user": cfg.get("USER"),
            "password": cfg.get("PASSWORD") or None,
            "host": cfg.get("HOST"),
            "port": cfg.get("PORT") or None,
        }.items()
        if v
    }


if __name__ == "__main__":
    main()
