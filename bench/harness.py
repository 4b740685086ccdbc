"""What bench/chat.py and bench/stream.py share: the processes they start and stop (the fake
upstream, gunicorn), the bench database (create, migrate, seed, verify, drop) and the queries
they make on it, and the run's start and clean-up (signals, logs, the database).

Only 127.0.0.1 is used; everything started is in a new session, so a stop takes its children.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench import procstat, pyspy

BASE_DIR = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
PYTHON = sys.executable
UPSTREAM_KEY_ENV = "BENCH_UPSTREAM_KEY"

NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def bench_json(output: str) -> dict[str, Any]:
    """The ``BENCH_JSON {...}`` line a bench helper printed."""
    for line in output.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line[len("BENCH_JSON ") :])
    raise RuntimeError(f"no BENCH_JSON line in:\n{output}")


def run_tool(cmd: list[str], env: dict[str, str], timeout: float, what: str) -> str:
    """Run a load generator to the end; its stdout."""
    res = subprocess.run(
        cmd, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if res.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{res.stdout}\n{res.stderr}")
    return res.stdout


def last_json_line(output: str) -> dict[str, Any]:
    return json.loads(output.strip().splitlines()[-1])


class Harness:
    """One benchmark run: its processes, its database and its temporary log directory."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="gw-bench-"))
        self.db = args.db
        self.pg_url = args.pg_url.rstrip("/")
        self.database_url = f"{self.pg_url}/{self.db}"
        self.upstream_port = args.upstream_port or free_port()
        self.gateway_port = args.port or free_port()
        self.keys: list[str] = []
        self.keys_file = self.tmp / "keys.txt"
        self.own_queries = 0  # statements this script ran on the bench database
        self.conn: psycopg.Connection[Any] | None = None
        self.conn_pid = 0
        self.master: subprocess.Popen[bytes] | None = None
        self.fake: subprocess.Popen[bytes] | None = None
        self.pyspy = pyspy.available() if args.py_spy else None
        if args.py_spy and not self.pyspy:
            raise SystemExit("--py-spy: py-spy is not installed (.venv/bin/pip install py-spy)")

    def url(self, target: str, path: str = "/v1/chat/completions") -> str:
        port = self.gateway_port if target == "gateway" else self.upstream_port
        return f"http://127.0.0.1:{port}{path}"

    # --- processes ------------------------------------------------------------------------
    def django_env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DJANGO_", "DB_", "GUNICORN_", "GATEWAY_"))
        }
        env.update(
            DATABASE_URL=self.database_url,
            DJANGO_SETTINGS_MODULE=self.args.settings,
            DJANGO_SECRET_KEY="bench-secret-key-not-for-production-0123456789abcdef",
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            DJANGO_DEBUG="false",
            DJANGO_SECURE_SSL_REDIRECT="false",  # plain HTTP on 127.0.0.1
            REDIS_URL="",
            CELERY_BROKER_URL="memory://",
            LOG_LEVEL="WARNING",
            PYTHONPATH=str(BASE_DIR),
        )
        env[UPSTREAM_KEY_ENV] = "bench-upstream-key"
        for item in self.args.env:
            name, _, value = item.partition("=")
            env[name] = value
        return env

    def spawn(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        out = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            cmd,
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        out.close()
        self.procs.append((name, proc))
        return proc

    def stop_all(self) -> None:
        for name, proc in reversed(self.procs):
            if proc.poll() is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop on SIGTERM; killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        self.procs.clear()

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.tmp / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def run_django(self, *args: str, timeout: float = 300) -> str:
        res = subprocess.run(
            [PYTHON, *args],
            cwd=BASE_DIR,
            env=self.django_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{res.stdout}\n{res.stderr}")
        return res.stdout

    def wait_http(
        self, url: str, name: str, proc: subprocess.Popen[bytes], *, method: str = "GET"
    ) -> None:
        deadline = time.monotonic() + 60
        data = b'{"model":"echo","messages":[{"role":"user","content":"hi"}]}'
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited ({proc.returncode}):\n{self.tail(name)}")
            req = urllib.request.Request(
                url,
                data=data if method == "POST" else None,
                method=method,
                headers={"Content-Type": "application/json"},
            )
            try:
                with NO_PROXY_OPENER.open(req, timeout=5) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{name} did not answer at {url}:\n{self.tail(name)}")

    def start_fake(self, options: list[str], description: str) -> None:
        """bench/fake_upstream.py on the upstream port with these options."""
        cmd = [PYTHON, "-m", "bench.fake_upstream", "--port", str(self.upstream_port), *options]
        self.fake = self.spawn("upstream", cmd, {**os.environ, "PYTHONPATH": str(BASE_DIR)})
        self.wait_http(self.url("direct"), "upstream", self.fake, method="POST")
        log(f"fake upstream on 127.0.0.1:{self.upstream_port} ({description})")

    def start_gateway(self) -> None:
        env = self.django_env()
        env.update(
            HOST="127.0.0.1",
            PORT=str(self.gateway_port),
            WEB_CONCURRENCY=str(self.args.workers),
        )
        cmd = [str(Path(PYTHON).parent / "gunicorn"), "-c", "gunicorn.conf.py"]
        cmd += self.args.gunicorn_arg
        self.master = self.spawn("gunicorn", cmd, env)
        self.wait_http(self.url("gateway", "/v1/models"), "gunicorn", self.master)
        deadline = time.monotonic() + 30
        while len(self.workers()) < self.args.workers and time.monotonic() < deadline:
            time.sleep(0.2)
        log(
            f"gateway on 127.0.0.1:{self.gateway_port}: master {self.master.pid}, "
            f"workers {self.workers()} ({self.args.settings})"
        )

    def workers(self) -> list[int]:
        return sorted(procstat.children(self.master.pid)) if self.master else []

    def gateway_groups(self) -> list[procstat.Group]:
        """What the CPU sampler counts: gunicorn, the bench database's backends (less this
        script's connection), PostgreSQL's shared processes, the fake."""
        master = self.master.pid if self.master else 0

        def gateway() -> list[int]:
            return [master, *procstat.children(master)]

        return [
            procstat.Group("gateway", gateway),
            procstat.Group(
                "pg", lambda: [p for p in procstat.postgres_pids(self.db)[0] if p != self.conn_pid]
            ),
            procstat.Group("pg_aux", lambda: procstat.postgres_pids(self.db)[1]),
            procstat.Group("upstream", lambda: [self.fake.pid] if self.fake else []),
        ]

    # --- database -------------------------------------------------------------------------
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

    def pg_stat(self) -> dict[str, int]:
        row = self.query(
            "SELECT xact_commit, xact_rollback, sessions, tup_inserted, tup_updated, "
            "tup_deleted FROM pg_stat_database WHERE datname = current_database()"
        )
        names = ("commits", "rollbacks", "sessions", "inserted", "updated", "deleted")
        return dict(zip(names, (int(v) for v in row), strict=True))

    def pg_stat_since(self, stats0: dict[str, int], own0: int) -> dict[str, int]:
        """pg_stat_database deltas since ``stats0``, less this script's own statements."""
        time.sleep(1.2)  # backends publish their transaction counts within a second
        own = self.own_queries - own0 + 1  # + the pg_stat() below
        stats1 = self.pg_stat()
        delta = {k: stats1[k] - stats0[k] for k in stats0}
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

    # --- results --------------------------------------------------------------------------
    def write_json(self, phases: list[Any], verify: dict[str, Any], **extra: Any) -> None:
        """With --json: the options, every phase and the checks, raw."""
        if not self.args.json:
            return
        Path(self.args.json).write_text(
            json.dumps(
                {
                    "args": vars(self.args),
                    "phases": [p.__dict__ for p in phases],
                    "verify": verify,
                    **extra,
                },
                default=str,
                indent=2,
            )
        )


def run_main(bench: Harness) -> int:
    """``bench.run()``, then stop everything it started, drop the database (unless
    --keep-db) and remove the logs (unless --keep-logs or the run failed), also on Ctrl-C,
    SIGTERM and errors."""
    args = bench.args

    def on_term(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)  # also when started in the background (SIG_IGN)
    code = 1
    try:
        code = bench.run()  # type: ignore[attr-defined]
    except KeyboardInterrupt:
        log("interrupted; stopping")
        code = 130
    except Exception as exc:
        log(f"failed: {exc}")
        if bench.master is not None:
            log("gunicorn log tail:\n" + bench.tail("gunicorn"))
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with contextlib.suppress(Exception):
            bench.disconnect()
        bench.stop_all()
        if not args.keep_db:
            with contextlib.suppress(Exception):
                bench.drop_db()
        if args.keep_logs or code != 0:
            log(f"logs kept in {bench.tmp}")
        else:
            shutil.rmtree(bench.tmp, ignore_errors=True)
    return code


# --- options both benchmarks take, in the order --help lists them -------------------------
def add_server_args(parser: argparse.ArgumentParser, db: str) -> None:
    parser.add_argument("--db", default=db, help="database to (re)create")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--settings", default="config.settings.production")
    parser.add_argument("--port", type=int, default=0, help="gateway port (0: any free)")
    parser.add_argument("--upstream-port", type=int, default=0)


def add_gateway_args(parser: argparse.ArgumentParser, gunicorn_help: str) -> None:
    parser.add_argument(
        "--env", action="append", default=[], help="KEY=VALUE for the gateway (repeatable)"
    )
    parser.add_argument("--gunicorn-arg", action="append", default=[], help=gunicorn_help)
    parser.add_argument(
        "--py-spy", action="store_true", help="sample the workers with py-spy in gateway phases"
    )


def add_output_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database")
    parser.add_argument("--keep-logs", action="store_true", help="keep the temporary log dir")
    parser.add_argument("--json", default="", help="also write raw results to this file")


def int_list(text: str) -> list[int]:
    """A comma-separated list of integers (an option's type)."""
    return [int(x) for x in text.split(",")]
