"""The bench database of bench/chat.py and bench/stream.py: create, migrate and seed it (with
the build's own bench/seed.py, which calls that build's services), verify and drop it, and
the queries this script makes on it: the Generation rows billed, PostgreSQL's counters, and
the SQL the gateway's workers sent (counted by bench/gunicorn_sqlcount.py).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench.common import UPSTREAM_KEY_ENV, bench_json, log


class BenchDatabase:
    """A mix-in of bench.harness.Harness: the database half of a run."""

    db: str
    pg_url: str
    database_url: str
    tmp: Path
    args: Any
    keys: list[str]
    keys_file: Path
    upstream_port: int
    own_queries: int
    conn: psycopg.Connection[Any] | None
    conn_pid: int

    def run_django(self, *args: str, timeout: float = 300) -> str:  # Harness has it
        raise NotImplementedError

    def create_db(self) -> None:
        """(Re)create, migrate and seed the bench database (bench/seed.py)."""
        with psycopg.connect(f"{self.pg_url}/postgres", autocommit=True) as conn:
            name = sql.Identifier(self.db)
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
        log(f"created database {self.db}; migrating")
        self.run_django("manage.py", "migrate", "--noinput", "-v0")
        seeded = bench_json(
            self.run_django(
                "-m",
                "bench.seed",
                "seed",
                "--upstream-url",
                f"http://127.0.0.1:{self.upstream_port}/v1",
                "--key-env",
                UPSTREAM_KEY_ENV,
                "--users",
                str(self.args.users),
            )
        )
        self.keys = [str(k) for k in seeded["keys"]]
        self.keys_file.write_text("\n".join(self.keys) + "\n")
        log(
            f"seeded model {seeded['model']}, {len(self.keys)} user(s) with "
            f"{seeded['grant']} credits and a key each"
        )

    def drop_db(self) -> None:
        with psycopg.connect(f"{self.pg_url}/postgres", autocommit=True) as conn:
            name = sql.Identifier(self.db)
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))

    def verify(self, expect_min: int, expect_max: int) -> dict[str, Any]:
        """``bench/seed.py verify``: the ledger and the Generation rows against the 2xx seen."""
        return bench_json(
            self.run_django(
                "-m",
                "bench.seed",
                "verify",
                "--expect-min",
                str(expect_min),
                "--expect-max",
                str(expect_max),
            )
        )

    def connect(self) -> None:
        """This script's own connection to the bench database (left out of the counts)."""
        self.conn = psycopg.connect(self.database_url, autocommit=True)
        row = self.conn.execute("SELECT pg_backend_pid()").fetchone()
        self.conn_pid = int(row[0]) if row else 0

    def disconnect(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def db_backends(self) -> int:
        with psycopg.connect(f"{self.pg_url}/postgres", autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [self.db]
            ).fetchone()
        return int(row[0]) if row else 0

    def query_all(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """One autocommit statement on the bench database (counted, so the transactions
        per request can leave this script's own out)."""
        assert self.conn is not None
        self.own_queries += 1
        return [tuple(row) for row in self.conn.execute(sql, params).fetchall()]

    def query(self, sql: str, params: list[Any] | None = None) -> tuple[Any, ...]:
        rows = self.query_all(sql, params)
        return rows[0] if rows else ()

    def last_generation_id(self) -> int:
        return int(self.query("SELECT coalesce(max(id), 0) FROM gateway_generation")[0])

    def sql_counts(self) -> dict[str, int]:
        """The SQL the gateway's workers sent so far (bench/gunicorn_sqlcount.py's files,
        rewritten every 100 ms; a worker that exited keeps its last file): statements,
        transactions = statements in autocommit + commits + rollbacks, and ``sql: <start of
        the statement>`` per kind of statement."""
        total = {"statements": 0, "transactions": 0}
        for path in self.tmp.glob("sqlcount-*.json"):
            try:
                counts = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            total["statements"] += int(counts.get("statements", 0))
            total["transactions"] += sum(
                int(counts.get(k, 0)) for k in ("autocommit", "commits", "rollbacks")
            )
            for head, n in (counts.get("by_sql") or {}).items():
                total[f"sql: {head}"] = total.get(f"sql: {head}", 0) + int(n)
        return total

    def pg_stat(self) -> dict[str, int]:
        """PostgreSQL's counters for the bench database, and the gateway's SQL count."""
        row = self.query(
            "SELECT xact_commit, xact_rollback, sessions, tup_inserted, tup_updated, "
            "tup_deleted FROM pg_stat_database WHERE datname = current_database()"
        )
        names = ("commits", "rollbacks", "sessions", "inserted", "updated", "deleted")
        return {**dict(zip(names, (int(v) for v in row), strict=True)), **self.sql_counts()}

    def pg_stat_since(self, stats0: dict[str, int], own0: int) -> dict[str, int]:
        """Deltas since ``stats0``, less this script's own statements. The gateway's
        statements and transactions are exact; pg_stat_database's are not at low rates: a
        backend publishes its counts at most once a second, and one that went idle publishes
        its last second up to 10 s later (PGSTAT_IDLE_INTERVAL), so at c=1 they miss up to
        a second of requests."""
        time.sleep(1.2)  # most backends have published by then; the workers' files too
        own = self.own_queries - own0 + 1  # + the pg_stat() below
        stats1 = self.pg_stat()
        delta = {k: stats1[k] - stats0.get(k, 0) for k in stats1}
        delta["commits"] -= own
        return delta

    def drain(self, since_id: int, expected: int, timeout: float = 10.0) -> int:
        """Wait for the requests still in flight when the load generator stopped to be
        billed; returns the rows written since ``since_id``."""
        assert self.conn is not None
        deadline = time.monotonic() + timeout
        seen, stable_since = -1, time.monotonic()
        while True:
            count = int(
                self.query("SELECT count(*) FROM gateway_generation WHERE id > %s", [since_id])[0]
            )
            now = time.monotonic()
            if count != seen:
                seen, stable_since = count, now
            if count >= expected or now - stable_since > 1.0 or now > deadline:
                return count
            time.sleep(0.05)

    def billed_since(self, since_id: int) -> int:
        return int(
            self.query(
                "SELECT count(*) FROM gateway_generation WHERE id > %s AND status = 'success'",
                [since_id],
            )[0]
        )
