"""Where one billed chat completion spends its CPU, in one process (no gunicorn, no load).

Runs POST /v1/chat/completions through Django's full handler (middleware, DRF, the
pipeline, requests to the upstream) with ``django.test.Client`` against an already seeded
database and a running fake upstream, and prints:

1. the SQL statements of one request (and how many transactions);
2. CPU milliseconds per request (``time.process_time``) over ``--requests`` requests, of
   this process only; PostgreSQL's share is not included;
3. with ``--cprofile``, the functions with the most cumulative time.

``--gevent`` monkey-patches first, as the gunicorn workers do (psycopg then waits through
gevent's ``select.poll``).

Needs DATABASE_URL (the bench database, e.g. after ``bench/chat.py --keep-db``) and a fake
upstream the seeded provider points to. Run::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gw_bench \\
      .venv/bin/python bench/profile_request.py --upstream-port 19100 --requests 300
"""

from __future__ import annotations

import sys

if "--gevent" in sys.argv:
    from gevent import monkey

    monkey.patch_all()

import argparse
import cProfile
import json
import pstats
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from bench.djsetup import django_setup, provider_repoint  # noqa: E402

BODY = {
    "model": "bench/echo",
    "messages": [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "Say hello to the benchmark, in a few words please"},
    ],
    "temperature": 0,
    "max_tokens": 32,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--upstream-port", type=int, default=0, help="repoint the provider")
    parser.add_argument("--omit-max-tokens", action="store_true")
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--gevent", action="store_true", help="monkey-patch like the workers")
    args = parser.parse_args()

    django_setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User
    from accounts.services import apikey_create
    from bench.seed import EMAIL

    provider_repoint(args.upstream_port)
    key = apikey_create(user=User.objects.get(email=EMAIL), name="profile").secret
    body = dict(BODY)
    if args.omit_max_tokens:
        body.pop("max_tokens")
    payload = json.dumps(body)
    client = Client(HTTP_HOST="127.0.0.1")
    headers = {"Authorization": f"Bearer {key}"}

    def post() -> None:
        resp = client.post(
            "/v1/chat/completions", payload, content_type="application/json", headers=headers
        )
        if resp.status_code != 200:
            raise SystemExit(f"HTTP {resp.status_code}: {resp.content[:500]!r}")

    for _ in range(20):  # warm: imports, catalog snapshot, pool, upstream keep-alive
        post()

    with CaptureQueriesContext(connection) as ctx:
        post()
    statements = [q["sql"] for q in ctx.captured_queries]
    explicit = autocommit = 0
    in_tx = False
    for sql in statements:
        word = sql.split(None, 1)[0].upper() if sql.strip() else ""
        if word == "BEGIN":
            in_tx, explicit = True, explicit + 1
        elif word in ("COMMIT", "ROLLBACK"):
            in_tx = False
        elif not in_tx:
            autocommit += 1
    print(
        f"== SQL of one request: {len(statements)} round trips, {explicit + autocommit} "
        f"transactions ({explicit} atomic blocks + {autocommit} autocommit statements)"
    )
    for sql in statements:
        print("  " + (sql if len(sql) < 160 else sql[:157] + "..."))

    t0, w0 = time.process_time(), time.perf_counter()
    for _ in range(args.requests):
        post()
    cpu, wall = time.process_time() - t0, time.perf_counter() - w0
    n = args.requests
    print(
        f"\n== {n} requests: {cpu / n * 1e3:.2f} ms CPU per request in this process "
        f"({wall / n * 1e3:.2f} ms wall, upstream delay included)"
        + (" [gevent-patched]" if args.gevent else "")
    )

    if args.cprofile:
        prof = cProfile.Profile(time.process_time)  # CPU time, not wall time
        prof.enable()
        for _ in range(n):
            post()
        prof.disable()
        print(f"\n== cProfile (CPU time), {n} requests, sorted by cumulative time")
        stats = pstats.Stats(prof)
        stats.sort_stats("cumulative").print_stats(args.top)
        print("\n== cProfile, sorted by own time")
        stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
