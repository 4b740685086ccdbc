"""gunicorn settings for a benchmark run: the build's own gunicorn.conf.py, unchanged, plus a
count of the SQL the workers send. Not for production.

Each worker counts every statement executed on a psycopg cursor (``Cursor.execute`` and
``executemany``: Django's cursors and the money path's own psycopg cursor alike, prepared or
not), by the statement's first 60 characters, and every explicit ``commit`` / ``rollback``,
and rewrites
``$BENCH_SQLCOUNT_DIR/sqlcount-<pid>.json`` every 100 ms when the counts changed. The
benchmark sums the files before and after a phase: exact, where PostgreSQL's
``pg_stat_database`` counters lag (an idle backend publishes its last second of transactions
up to 10 s later). The cost is one Python call per statement (~1 µs).

The build's config is ``$BENCH_GUNICORN_CONF`` (default: gunicorn.conf.py in the working
directory, the build's root); only psycopg, gevent and the standard library are imported, so
it runs in any build's venv.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

_conf = Path(os.environ.get("BENCH_GUNICORN_CONF") or "gunicorn.conf.py").resolve()
exec(compile(_conf.read_text(), str(_conf), "exec"))  # the build's settings, unchanged

_build_post_worker_init = globals().get("post_worker_init")


def _count_sql(out: Path) -> None:
    import gevent
    import psycopg

    counts: dict = {"statements": 0, "commits": 0, "rollbacks": 0, "autocommit": 0, "by_sql": {}}
    by_sql = counts["by_sql"]

    def counted(method, key):
        def wrapper(self, *args, **kwargs):
            counts[key] += 1
            if key == "statements":
                if self.connection.autocommit:
                    counts["autocommit"] += 1
                query = args[0] if args else kwargs.get("query", "")
                head = " ".join(str(query)[:60].split())
                by_sql[head] = by_sql.get(head, 0) + 1
            return method(self, *args, **kwargs)

        return wrapper

    psycopg.Cursor.execute = counted(psycopg.Cursor.execute, "statements")
    psycopg.Cursor.executemany = counted(psycopg.Cursor.executemany, "statements")
    psycopg.Connection.commit = counted(psycopg.Connection.commit, "commits")
    psycopg.Connection.rollback = counted(psycopg.Connection.rollback, "rollbacks")

    def writer() -> None:
        last = -1
        tmp = out.with_suffix(".tmp")
        while True:
            total = counts["statements"] + counts["commits"] + counts["rollbacks"]
            if total != last:
                last = total
                tmp.write_text(json.dumps(counts))
                tmp.replace(out)
            gevent.sleep(0.1)

    gevent.spawn(writer)


def post_worker_init(worker):
    if _build_post_worker_init is not None:
        _build_post_worker_init(worker)
    out_dir = Path(os.environ.get("BENCH_SQLCOUNT_DIR") or "/tmp")
    _count_sql(out_dir / f"sqlcount-{os.getpid()}.json")
