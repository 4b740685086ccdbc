"""Benchmark of the usage pages on PostgreSQL: one account with 1,000,000 requests over 90
days (and their daily rollups), then the time to render /usage/, a filtered request-log page
and its next page, the charts' SVG, and the CSV export of 100,000 rows with the memory its
stream takes (tracemalloc's peak over the stream, and the process's RSS before and after).

It makes its own database (``--db``, dropped first; ``--keep`` keeps it for a second run with
``--reuse``), seeds it with INSERT ... SELECT generate_series (one statement for the request
log, one for the rollups built from it), and drives the views in-process with Django's test
client, signed in as the account. Settings: config.settings.test (DEBUG off, so no query log
grows). Run from the project root: ``.venv/bin/python bench/usage.py`` (``--help``).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:  # also runnable as ``python bench/usage.py``
    sys.path.insert(0, str(BASE_DIR))

MODELS = ("acme/small", "acme/large", "beta/chat", "beta/code", "gamma/mini", "gamma/max")
SURFACES = ("chat.completions", "messages", "responses", "completions")

SEED_GENERATIONS = """
INSERT INTO gateway_generation (
    request_id, user_id, api_key_id, model, provider, upstream_model, surface, status,
    http_status, error_code, finish_reason, latency_ms, prompt_tokens, completion_tokens,
    cached_tokens, reasoning_tokens, native_usage, prices, cost, cost_breakdown, attempts,
    is_streamed, usage_estimated, created_at)
SELECT 'gen-bench' || lpad(n::text, 10, '0'), %(user)s,
    (%(keys)s::bigint[])[1 + n %% cardinality(%(keys)s::bigint[])],
    (%(models)s::text[])[1 + (n / 7) %% cardinality(%(models)s::text[])],
    'fake', 'echo',
    (%(surfaces)s::text[])[1 + (n / 3) %% cardinality(%(surfaces)s::text[])],
    CASE WHEN n %% 50 = 0 THEN 'error' WHEN n %% 97 = 0 THEN 'refused' ELSE 'success' END,
    CASE WHEN n %% 50 = 0 THEN 502 WHEN n %% 97 = 0 THEN 402 ELSE 200 END,
    CASE WHEN n %% 50 = 0 THEN 'upstream_error' WHEN n %% 97 = 0 THEN 'insufficient_credits'
         ELSE '' END,
    'stop', 200 + n %% 900, 50 + n %% 400, 10 + n %% 300, 0, 0, '{}',
    '{"prompt": "1.5", "completion": "6.25"}',
    CASE WHEN n %% 97 = 0 THEN 0 ELSE 100 + (n %% 5000) END, '{}', '[]',
    n %% 3 = 0, false,
    %(end)s::timestamptz - (n * (%(seconds)s::float8 / %(rows)s)) * interval '1 second'
FROM generate_series(1, %(rows)s) AS n
"""

SEED_ROLLUPS = """
INSERT INTO gateway_usagedaily (user_id, key_id, model, surface, day, requests,
    prompt_tokens, completion_tokens, cost)
SELECT user_id, coalesce(api_key_id, 0), model, surface, (created_at AT TIME ZONE 'UTC')::date,
    count(*), sum(prompt_tokens), sum(completion_tokens), sum(cost)
FROM gateway_generation WHERE user_id = %(user)s AND status <> 'refused'
GROUP BY 1, 2, 3, 4, 5
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--db", default="gw_usage_bench")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--csv-rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15, help="timed runs of each page")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="use a kept, seeded database")
    return parser.parse_args()


def recreate(pg_url: str, db: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{pg_url}/postgres", autocommit=True) as conn:
        name = sql.Identifier(db)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def drop(pg_url: str, db: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{pg_url}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))


def seed(args: argparse.Namespace) -> tuple[int, float]:
    """Migrate and seed; (the user's id, seconds the seed took)."""
    import datetime as dt

    from django.core.management import call_command
    from django.db import connection

    from accounts.services import apikey_create, user_create
    from billing.services import credits_grant

    began = time.monotonic()
    call_command("migrate", "--noinput", verbosity=0)
    user = user_create(email="bench@example.com", password="bench-password-long-enough-1")
    keys = [apikey_create(user=user, name=f"key {n}", ignore_tier=True) for n in range(3)]
    credits_grant(user_id=user.pk, amount=5_000_000_000, memo="bench")
    end = dt.datetime.now(dt.UTC)
    params: dict[str, Any] = {
        "user": user.pk,
        "keys": [k.api_key.pk for k in keys],
        "models": list(MODELS),
        "surfaces": list(SURFACES),
        "rows": args.rows,
        "seconds": args.days * 86_400 - 60,
        "end": end,
    }
    with connection.cursor() as cursor:
        cursor.execute(SEED_GENERATIONS, params)
        cursor.execute(SEED_ROLLUPS, {"user": user.pk})
        cursor.execute("ANALYZE gateway_generation")
        cursor.execute("ANALYZE gateway_usagedaily")
    return user.pk, time.monotonic() - began


def timed(client: Any, path: str, params: dict[str, str], repeat: int) -> dict[str, float]:
    """Median and max milliseconds of ``repeat`` GETs after one warm-up."""
    response = client.get(path, params)
    assert response.status_code == 200, (path, response.status_code)
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        response = client.get(path, params)
        times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200
    return {"median_ms": statistics.median(times), "max_ms": max(times)}


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def export_stream(client: Any, params: dict[str, str]) -> dict[str, float]:
    """Stream the CSV twice: timed alone, then under tracemalloc (which slows Python down)
    for its peak over the stream and the RSS at 10,000 rows and at the end."""
    response = client.get("/usage/export.csv", params)
    assert response.status_code == 200
    began = time.perf_counter()
    lines = size = 0
    for chunk in response.streaming_content:
        lines += 1
        size += len(chunk)
    seconds = time.perf_counter() - began
    response = client.get("/usage/export.csv", params)
    rss_before = rss_kib()
    tracemalloc.start()
    rss_at_10k = 0
    for n, _ in enumerate(response.streaming_content, 1):
        if n == 10_000:
            rss_at_10k = rss_kib()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "rows": lines - 1,
        "mib": size / 2**20,
        "seconds": seconds,
        "tracemalloc_peak_kib": peak / 1024,
        "rss_before_kib": rss_before,
        "rss_at_10k_rows_kib": rss_at_10k,
        "rss_after_kib": rss_kib(),
    }


def main() -> None:
    args = parse_args()
    os.environ["DATABASE_URL"] = f"{args.pg_url}/{args.db}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    if not args.reuse:
        recreate(args.pg_url, args.db)
    import django

    django.setup()
    import datetime as dt

    from django.test import Client

    from accounts.models import User
    from gateway.models import Generation

    if args.reuse:
        user_id, seed_seconds = User.objects.get(email="bench@example.com").pk, 0.0
    else:
        user_id, seed_seconds = seed(args)
    rows = Generation.objects.filter(user_id=user_id).count()
    print(f"seeded {rows:,} requests over {args.days} days in {seed_seconds:.1f} s")
    client = Client(HTTP_HOST="localhost")
    client.force_login(User.objects.get(pk=user_id))
    today = dt.datetime.now(dt.UTC).date()
    per_day = rows / args.days
    csv_days = max(1, math.ceil(args.csv_rows / per_day) + 1)  # today is a partial day
    csv_range = {
        "period": "custom",
        "start": (today - dt.timedelta(days=csv_days - 1)).isoformat(),
        "end": today.isoformat(),
    }
    filtered = {"period": "90", "model": "beta/chat", "status": "success"}
    older = re.search(r"cursor=([\w-]+)", client.get("/usage/", filtered).content.decode())
    first = older.group(1) if older else ""
    results = {
        "/usage/ (90 days, by model)": timed(client, "/usage/", {"period": "90"}, args.repeat),
        "/usage/ (90 days, by key)": timed(
            client, "/usage/", {"period": "90", "by": "key"}, args.repeat
        ),
        "/usage/ filtered (model + status)": timed(client, "/usage/", filtered, args.repeat),
        "/usage/ filtered, next page": timed(
            client, "/usage/", {**filtered, "cursor": first}, args.repeat
        ),
        "/usage/ filtered, no match (cancelled)": timed(
            client, "/usage/", {"period": "90", "status": "cancelled"}, args.repeat
        ),
        "/usage/ filtered, no match (model)": timed(
            client, "/usage/", {"period": "90", "model": "absent/model"}, args.repeat
        ),
        "/usage/ filtered, no match (surface)": timed(
            client, "/usage/", {"period": "90", "surface": "embeddings"}, args.repeat
        ),
        "/usage/ filtered, surface + model": timed(
            client,
            "/usage/",
            {"period": "90", "surface": "messages", "model": "beta/chat"},
            args.repeat,
        ),
        "/usage/chart/spend.svg (90 days)": timed(
            client, "/usage/chart/spend.svg", {"period": "90"}, args.repeat
        ),
        "/ (dashboard)": timed(client, "/", {}, args.repeat),
    }
    print(f"{'page':40} {'median ms':>10} {'max ms':>8}")
    for name, result in results.items():
        print(f"{name:40} {result['median_ms']:10.1f} {result['max_ms']:8.1f}")
    log_only = _log_page_ms(user_id, filtered, first, args.repeat)
    print(f"{'request-log query alone (filtered page)':40} {log_only:10.1f}")
    export = export_stream(client, csv_range)
    print(
        f"CSV export of {export['rows']:,} rows ({csv_days} UTC days, {export['mib']:.1f} MiB): "
        f"{export['seconds']:.2f} s, tracemalloc peak {export['tracemalloc_peak_kib']:,.0f} KiB, "
        f"RSS {export['rss_before_kib']:,} KiB before, {export['rss_at_10k_rows_kib']:,} KiB "
        f"at 10,000 rows, {export['rss_after_kib']:,} KiB after"
    )
    if not args.keep:
        from django.db import connections

        connections.close_all()
        drop(args.pg_url, args.db)


def _log_page_ms(user_id: int, params: dict[str, str], cursor: str, repeat: int) -> float:
    """The filtered log page's own query (median ms), without the rest of the page."""
    from gateway.console.filters import UsageFilterForm, usage_query
    from gateway.console.requests_log import log_page_for

    form = UsageFilterForm(params, key_choices=[])
    query = usage_query(form)
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        log_page_for(user_id=user_id, query=query, cursor=cursor)
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


if __name__ == "__main__":
    main()
