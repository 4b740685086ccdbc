"""Benchmark of the media poller on PostgreSQL: N open tasks at a provider that answers each
poll after a delay, then the time of one sweep polling them all (``tasks_poll_due``: claimed
in one statement, polled ``GATEWAY_TASK_POLL_CONCURRENCY`` at a time) and of the next sweep,
which finds them done, stores each output and settles each task.

It makes its own database (``--db``, dropped first and afterwards unless ``--keep``),
migrates it, and creates the tasks through the engine (``task_create``) against the fake
media upstream of the tests (``tests.fakes.media``, a real HTTP server in this process),
whose upstream model ``after-1`` answers ``in_progress`` at the first poll and ``completed``
at the second. Outputs go to a temporary MEDIA_ROOT. ``verify_ledger`` runs at the end.
Run from the project root: ``.venv/bin/python bench/media_poll.py`` (``--help``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from io import StringIO
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:  # also runnable as ``python bench/media_poll.py``
    sys.path.insert(0, str(BASE_DIR))

KEY_ENV = "BENCH_MEDIA_API_KEY"
SECRET = "bench-media-secret"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--db", default="gw_media_bench")
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--poll-ms", type=float, default=50.0, help="the provider's poll delay")
    parser.add_argument("--concurrency", type=int, default=32, help="polls at once")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return parser.parse_args()


def recreate(pg_url: str, db: str, *, create: bool = True) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{pg_url}/postgres", autocommit=True) as conn:
        name = sql.Identifier(db)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        if create:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def main() -> None:
    args = parse_args()
    os.environ["DATABASE_URL"] = f"{args.pg_url}/{args.db}"
    os.environ["GATEWAY_TASK_POLL_CONCURRENCY"] = str(args.concurrency)
    os.environ["GATEWAY_TASK_POLL_BATCH"] = str(max(args.tasks, 1000))
    os.environ["MEDIA_ROOT"] = tempfile.mkdtemp(prefix="media-bench-")
    os.environ[KEY_ENV] = SECRET
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    recreate(args.pg_url, args.db)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections
    from django.utils import timezone

    from accounts.services import apikey_create, user_create
    from billing.services import credits_grant
    from catalog.models import Model, Provider, Route
    from catalog.selectors import catalog_invalidate
    from gateway.media.engine import TaskRequest, task_create, tasks_poll_due
    from gateway.pipeline.planning import Caller
    from tests.fakes.media import FakeMedia

    call_command("migrate", "--noinput", verbosity=0)
    fake = FakeMedia(api_key=SECRET).start()
    try:
        provider = Provider.objects.create(
            slug="bench-media", dialect="openai", base_url=fake.url + "/v1", api_key_env=KEY_ENV
        )
        model = Model.objects.create(
            public_id="bench/video",
            name="Bench video",
            output_modalities=["video"],
            price_video_second=Decimal("0.01"),  # 10,000 credits a second
        )
        Route.objects.create(model=model, provider=provider, upstream_model="after-1")
        catalog_invalidate()
        user = user_create(email="bench@example.com")
        credits_grant(user_id=user.pk, amount=args.tasks * 10_000, memo="bench")
        key = apikey_create(user=user).api_key
        began = time.monotonic()
        for _ in range(args.tasks):
            caller = Caller(
                request_id="req_" + uuid.uuid4().hex,
                api_key=key,
                account_id=user.credit_account.pk,
                surface="videos",
            )
            task_create(
                caller,
                TaskRequest(
                    kind="video", model="bench/video", params={"prompt": "x", "duration": 1}
                ),
            )
        created = time.monotonic() - began
        print(f"created {args.tasks} tasks through the engine in {created:.2f} s")
        fake.poll_delay = args.poll_ms / 1000
        due = timezone.now() + dt.timedelta(seconds=60)
        first = tasks_poll_due(now=due)
        print(
            f"sweep 1: {first.claimed} claimed, {first.open} still open, {first.errors} errors "
            f"in {first.seconds:.2f} s ({args.poll_ms:.0f} ms a poll, {args.concurrency} at "
            f"once; one at a time would wait {args.tasks * args.poll_ms / 1000:.1f} s)"
        )
        second = tasks_poll_due(now=due + dt.timedelta(seconds=120))
        print(
            f"sweep 2: {second.claimed} claimed, {second.succeeded} succeeded (stored and "
            f"settled), {second.errors} errors in {second.seconds:.2f} s"
        )
        out = StringIO()
        call_command("verify_ledger", stdout=out)
        print(out.getvalue().strip())
    finally:
        fake.stop()
        connections.close_all()
        if not args.keep:
            recreate(args.pg_url, args.db, create=False)


if __name__ == "__main__":
    main()
