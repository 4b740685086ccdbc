"""The hot statements of ``billing.sql`` become server-side prepared statements after
``DB_PREPARE_THRESHOLD`` executions on a connection, except while queries are logged; and
the gevent web workers' pooled connections wait on gevent's event loop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.db import NotSupportedError, connection, transaction
from django.test.utils import CaptureQueriesContext

from config.db import run

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL prepares"),
    pytest.mark.django_db(transaction=True),
]

ROOT = Path(__file__).resolve().parents[2]


def prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_a_statement_is_prepared_once_run_five_times():
    assert connection.settings_dict["OPTIONS"]["prepare_threshold"] == 5
    sql = "SELECT %(x)s::bigint + 41 AS prepared_probe"
    for i in range(4):
        assert run(sql, {"x": i}) == (i + 41,)
    assert not [s for s in prepared_statements() if "prepared_probe" in s]
    assert run(sql, {"x": 1}) == (42,)
    assert run(sql, {"x": 2}) == (43,)  # past the threshold: prepared, then run prepared
    probes = [s for s in prepared_statements() if "prepared_probe" in s]
    assert probes == ["SELECT $1::bigint + 41 AS prepared_probe"]


def test_logged_queries_keep_their_text_and_are_not_prepared():
    sql = "SELECT %(x)s::bigint * 2 AS logged_probe"
    with CaptureQueriesContext(connection) as captured:
        for i in range(8):
            assert run(sql, {"x": i}) == (i * 2,)
    assert len(captured.captured_queries) == 8
    assert all("logged_probe" in q["sql"] for q in captured.captured_queries)
    # server-side binding: the log shows the statement with its placeholders
    assert captured.captured_queries[3]["sql"] == "SELECT $1::bigint * 2 AS logged_probe"
    assert not [s for s in prepared_statements() if "logged_probe" in s]


def _python(code: str, **env: str) -> str:
    full = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", **env}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


SETTINGS_PROBE = """
    import django, json
    django.setup()
    from django.conf import settings
    opts = settings.DATABASES["default"]["OPTIONS"]
    print(json.dumps({"threshold": opts["prepare_threshold"],
                      "cls": opts.get("pool", {}).get("connection_class", type).__name__}))
"""


def test_the_threshold_setting_and_zero_to_disable():
    url = os.environ["DATABASE_URL"]
    assert json.loads(_python(SETTINGS_PROBE, DATABASE_URL=url, DB_PREPARE_THRESHOLD="2")) == {
        "threshold": 2,
        "cls": "type",  # not under gevent: psycopg's own connection class and waits
    }
    off = json.loads(_python(SETTINGS_PROBE, DATABASE_URL=url, DB_PREPARE_THRESHOLD="0"))
    assert off["threshold"] is None  # psycopg never prepares (e.g. behind PgBouncer < 1.21)


GEVENT_PROBE = """
    from gevent import monkey
    monkey.patch_all()
    import django, json, gevent
    django.setup()
    from django.conf import settings
    from django.db import connection, connections
    from config.db import run

    # After its 0.3 s sleep each query counts the probes the server is running at that moment.
    SQL = (
        "SELECT %(i)s::int, (SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
        " AND query LIKE '%%sleep-probe%%') FROM pg_sleep(0.3)"
    )
    seen = {}

    def worker(i):
        row = run(SQL, {"i": i})
        seen[row[0]] = row[1]
        connections.close_all()  # back to the pool, as at the end of a request

    gevent.joinall([gevent.spawn(worker, i) for i in range(8)], raise_error=True)
    connection.ensure_connection()
    raw = connection.connection
    raw.execute("LISTEN probe_channel")
    raw.execute("NOTIFY probe_channel, 'hello'")
    # notifies() waits with a timeout: what arrived, then the wait runs out
    heard = [n.payload for n in raw.notifies(timeout=0.3)]
    pool = settings.DATABASES["default"]["OPTIONS"]["pool"]
    print(json.dumps({"cls": type(raw).__name__,
                      "pool": pool["connection_class"].__name__,
                      "workers": sorted(seen), "most_at_once": max(seen.values()),
                      "heard": heard}))
"""


def test_gevent_workers_wait_for_the_database_on_the_event_loop():
    """Under gevent's patching the pool hands out ``GeventConnection``s, and eight greenlets'
    0.3 s queries all run on the server at once: no greenlet blocks the loop while it waits.
    A wait with a timeout (``notifies``) returns what arrived when it runs out."""
    test_db = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + connection.settings_dict["NAME"]
    result = json.loads(_python(GEVENT_PROBE, DATABASE_URL=test_db))
    assert result == {
        "cls": "GeventConnection",
        "pool": "GeventConnection",
        "workers": list(range(8)),
        "most_at_once": 8,
        "heard": ["hello"],
    }


@pytest.fixture
def probe_table() -> Iterator[str]:
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE stale_probe (v integer)")
        cursor.execute("INSERT INTO stale_probe VALUES (7)")
    yield "SELECT v AS stale_probe FROM stale_probe"
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE stale_probe")


def alter_elsewhere(sql: str) -> None:
    """Run DDL as a migration in another process would: on a connection of its own."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("prepare_threshold", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute(sql)


def test_a_statement_prepared_before_a_migration_changed_its_result_runs_again(
    probe_table: str,
):
    for _ in range(6):
        assert run(probe_table, []) == (7,)
    assert [s for s in prepared_statements() if "stale_probe" in s]
    alter_elsewhere("ALTER TABLE stale_probe ALTER COLUMN v TYPE bigint")
    assert run(probe_table, []) == (7,)  # refused by the server as prepared; run afresh
    assert not [s for s in prepared_statements() if "stale_probe" in s]
    for _ in range(6):
        assert run(probe_table, []) == (7,)
    assert [s for s in prepared_statements() if "stale_probe" in s]  # prepared anew


def test_inside_a_transaction_the_stale_statement_error_is_raised(probe_table: str):
    for _ in range(6):
        run(probe_table, [])
    alter_elsewhere("ALTER TABLE stale_probe ALTER COLUMN v TYPE bigint")
    stale = pytest.raises(NotSupportedError, match="cached plan must not change result type")
    with stale, transaction.atomic():
        run(probe_table, [])
    assert run(probe_table, []) == (7,)  # the rollback made psycopg forget its statements
