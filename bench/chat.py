"""Benchmark of POST /v1/chat/completions: direct to a fake upstream vs through the gateway.

One run: start a fake upstream (bench/fake_upstream.py, 50 ms delay), create and migrate a
fresh PostgreSQL database, seed it through the project's services (bench/seed.py), start the
gateway under gunicorn (gunicorn.conf.py: gevent workers, production settings), then for
each concurrency measure direct-to-fake and through-the-gateway throughput and latency, and
the CPU the gateway processes and the database's PostgreSQL backends spend per billed
request (from /proc). Afterwards check the ledger and the Generation count, print a table,
and stop everything it started.

Run from the project root: ``.venv/bin/python bench/chat.py`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:  # also runnable as ``python bench/chat.py``
    sys.path.insert(0, str(BASE_DIR))

from bench import procstat, pyspy  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
PYTHON = sys.executable
UPSTREAM_KEY_ENV = "BENCH_UPSTREAM_KEY"

NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

TARGET_CPU_MS = 4.0
TARGET_RPS_C50 = 250.0
TARGET_OVERHEAD_P50_C1 = 5.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@dataclass
class Phase:
    target: str  # "direct" or "gateway"
    concurrency: int
    load: dict[str, Any]
    cpu: dict[str, Any]
    loadgen_cpu: float
    billed: int = 0
    rss: dict[int, int] = field(default_factory=dict)
    db_backends: int = 0
    workers: list[int] = field(default_factory=list)
    pg_stats: dict[str, int] = field(default_factory=dict)  # pg_stat_database deltas
    waits: dict[str, float] = field(default_factory=dict)  # mean backends per state
    profile: str = ""  # py-spy summary, with --py-spy

    @property
    def ok(self) -> int:
        status = self.load.get("status") or {}
        if self.load.get("tool") == "wrk":
            return int(status.get("2xx", 0))
        return sum(v for k, v in status.items() if 200 <= int(k) < 300)

    @property
    def errors(self) -> int:
        return int(self.load.get("non_2xx", 0)) + sum((self.load.get("errors") or {}).values())

    @property
    def rps(self) -> float:
        seconds = float(self.load.get("seconds") or 0)
        return self.ok / seconds if seconds else 0.0

    def lat(self, p: str) -> float:
        return float(self.load["latency_ms"][p])

    def group_cpu(self, name: str) -> float:
        return float(self.cpu["groups"].get(name, {}).get("cpu", 0.0))

    def worker_cpu(self) -> list[tuple[int, float]]:
        per_pid = self.cpu["groups"]["gateway"]["per_pid"]
        return [(pid, per_pid.get(pid, 0.0)) for pid in self.workers]


class Bench:
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
        self.phases: list[Phase] = []
        self.expected_min = 0  # 2xx the load generator saw
        self.expected_max = 0  # ... plus requests in flight when it stopped
        self.own_queries = 0  # statements this script ran on the bench database
        self.conn: psycopg.Connection[Any] | None = None
        self.conn_pid = 0
        self.master: subprocess.Popen[bytes] | None = None
        self.fake: subprocess.Popen[bytes] | None = None
        self.wrk = shutil.which("wrk") if args.loadgen in ("auto", "wrk") else None
        if args.loadgen == "wrk" and not self.wrk:
            raise SystemExit("--loadgen wrk: wrk is not installed")
        self.pyspy = pyspy.available() if args.py_spy else None
        if args.py_spy and not self.pyspy:
            raise SystemExit("--py-spy: py-spy is not installed (.venv/bin/pip install py-spy)")

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

    @staticmethod
    def bench_json(output: str) -> dict[str, Any]:
        for line in output.splitlines():
            if line.startswith("BENCH_JSON "):
                return json.loads(line[len("BENCH_JSON ") :])
        raise RuntimeError(f"no BENCH_JSON line in:\n{output}")

    # --- setup ----------------------------------------------------------------------------
    def start_upstream(self) -> None:
        cmd = [
            PYTHON,
            "-m",
            "bench.fake_upstream",
            "--port",
            str(self.upstream_port),
            "--delay-ms",
            str(self.args.delay_ms),
        ]
        self.fake = self.spawn("upstream", cmd, {**os.environ, "PYTHONPATH": str(BASE_DIR)})
        self.wait_http(
            f"http://127.0.0.1:{self.upstream_port}/v1/chat/completions",
            "upstream",
            self.fake,
            method="POST",
        )
        log(f"fake upstream on 127.0.0.1:{self.upstream_port} ({self.args.delay_ms} ms delay)")

    def create_db(self) -> None:
        with psycopg.connect(f"{self.pg_url}/postgres", autocommit=True) as conn:
            name = sql.Identifier(self.db)
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
        log(f"created database {self.db}; migrating")
        self.run_django("manage.py", "migrate", "--noinput", "-v0")
        seeded = self.bench_json(
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
        self.wait_http(f"http://127.0.0.1:{self.gateway_port}/v1/models", "gunicorn", self.master)
        deadline = time.monotonic() + 30
        while len(self.workers()) < self.args.workers and time.monotonic() < deadline:
            time.sleep(0.2)
        log(
            f"gateway on 127.0.0.1:{self.gateway_port}: master {self.master.pid}, "
            f"workers {self.workers()} ({self.args.settings})"
        )

    def workers(self) -> list[int]:
        return sorted(procstat.children(self.master.pid)) if self.master else []

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

    # --- measuring ------------------------------------------------------------------------
    def body_file(self) -> Path:
        body: dict[str, Any] = {
            "model": "bench/echo",
            "messages": [
                {"role": "system", "content": "You are a terse assistant."},
                {"role": "user", "content": "Say hello to the benchmark, in a few words please"},
            ],
            "temperature": 0,
        }
        if not self.args.omit_max_tokens:
            body["max_tokens"] = 32
        path = self.tmp / "body.json"
        path.write_text(json.dumps(body))
        return path

    def load(self, url: str, concurrency: int, duration: float, keyed: bool) -> dict[str, Any]:
        body = self.body_file()
        budget = self.args.max_requests
        if self.wrk:
            cmd = [
                self.wrk,
                "-t1",
                f"-c{concurrency}",
                f"-d{max(1, round(duration))}s",
                "--timeout",
                "30s",
                "-s",
                str(BENCH_DIR / "post.lua"),
                url,
            ]
            env = {
                **os.environ,
                "BENCH_BODY_FILE": str(body),
                "BENCH_KEYS_FILE": str(self.keys_file) if keyed else "",
                "BENCH_MAX_REQUESTS": str(budget),
            }
        else:
            cmd = [PYTHON, "-m", "bench.loadgen", "--url", url, "-c", str(concurrency)]
            cmd += ["-d", str(duration), "-n", str(budget), "--body-file", str(body)]
            if keyed:
                cmd += ["--keys-file", str(self.keys_file)]
            env = {**os.environ, "PYTHONPATH": str(BASE_DIR)}
        res = subprocess.run(
            cmd,
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=duration + 120,
            check=False,
        )
        if res.returncode != 0:
            raise RuntimeError(f"load generator failed:\n{res.stdout}\n{res.stderr}")
        if self.wrk:
            return self.bench_json(res.stdout)
        return json.loads(res.stdout.strip().splitlines()[-1])

    def gateway_groups(self) -> list[procstat.Group]:
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

    def db_backends(self) -> int:
        with psycopg.connect(f"{self.pg_url}/postgres", autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [self.db]
            ).fetchone()
        return int(row[0]) if row else 0

    def query(self, sql: str, params: list[Any] | None = None) -> tuple[Any, ...]:
        """One autocommit statement on the bench database (counted, so the transactions
        per request can leave this script's own out)."""
        assert self.conn is not None
        self.own_queries += 1
        row = self.conn.execute(sql, params).fetchone()
        return tuple(row) if row else ()

    def last_generation_id(self) -> int:
        return int(self.query("SELECT coalesce(max(id), 0) FROM gateway_generation")[0])

    def pg_stat(self) -> dict[str, int]:
        row = self.query(
            "SELECT xact_commit, xact_rollback, sessions, tup_inserted, tup_updated, "
            "tup_deleted FROM pg_stat_database WHERE datname = current_database()"
        )
        names = ("commits", "rollbacks", "sessions", "inserted", "updated", "deleted")
        return dict(zip(names, (int(v) for v in row), strict=True))

    def wait_sampler(self) -> tuple[Any, dict[str, int]]:
        """A callable for the Sampler that counts the bench database's client backends by
        what they are doing (running, waiting for a lock, idle in a transaction...)."""
        counts: dict[str, int] = {"samples": 0}
        conn = psycopg.connect(f"{self.pg_url}/postgres", autocommit=True)

        def sample() -> None:
            try:
                rows = conn.execute(
                    "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
                    "WHERE datname = %s AND backend_type = 'client backend' AND pid <> %s",
                    [self.db, self.conn_pid],
                ).fetchall()
            except psycopg.Error:
                return
            counts["samples"] += 1
            for state, wtype, wevent in rows:
                if state == "active":
                    key = "running" if not wtype else f"wait {wtype}"
                    if wtype == "IO" or wtype == "LWLock":
                        key = f"wait {wtype}:{wevent}"
                else:
                    key = state or "?"
                counts[key] = counts.get(key, 0) + 1

        return (sample, conn), counts

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

    @staticmethod
    def in_flight(result: dict[str, Any]) -> int:
        """Requests written but not answered when the load generator stopped."""
        errors = sum((result.get("errors") or {}).values())
        sent = int(result.get("sent", result["requests"]))
        if result.get("tool") == "wrk":
            sent -= 1  # wrk builds one request per thread at start-up that it never sends
        return max(0, sent - result["requests"] - errors)

    def phase(self, target: str, concurrency: int, duration: float) -> Phase:
        gateway = target == "gateway"
        port = self.gateway_port if gateway else self.upstream_port
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        gen0 = self.last_generation_id()
        stats0 = self.pg_stat()
        own0 = self.own_queries
        (wait_fn, wait_conn), waits = self.wait_sampler()
        sampler = procstat.Sampler(self.gateway_groups(), extra=wait_fn if gateway else None)
        spies: list[tuple[Path, subprocess.Popen[bytes]]] = []
        if gateway and self.pyspy:
            for pid in self.workers():
                out = self.tmp / f"pyspy-c{concurrency}-{pid}.txt"
                spies.append((out, pyspy.record(self.pyspy, pid, duration, out)))
        rusage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        sampler.begin()
        result = self.load(url, concurrency, duration, gateway)
        for _, spy in spies:
            spy.wait(timeout=60)
        rusage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if gateway:
            # the CPU window closes once the requests in flight at the cut-off are billed,
            # so CPU and the billed count cover the same requests
            self.drain(gen0, result["requests"] + self.in_flight(result))
        cpu = sampler.end()
        wait_conn.close()
        loadgen = (rusage1.ru_utime + rusage1.ru_stime) - (rusage0.ru_utime + rusage0.ru_stime)
        workers = self.workers()
        phase = Phase(
            target=target,
            concurrency=concurrency,
            load=result,
            cpu=cpu,
            loadgen_cpu=loadgen,
            workers=workers,
        )
        if spies:
            phase.profile = pyspy.summarize([out for out, _ in spies])
        if gateway:
            phase.rss = {pid: procstat.rss_bytes(pid) for pid in [self.master.pid, *workers]}
            phase.db_backends = self.db_backends()
            phase.billed = self.billed_since(gen0)
            self.expected_min += phase.ok
            self.expected_max += phase.ok + self.in_flight(result)
            n = max(1, waits.pop("samples"))
            phase.waits = {k: v / n for k, v in sorted(waits.items(), key=lambda kv: -kv[1])}
            time.sleep(1.2)  # backends publish their transaction counts within a second
            own = self.own_queries - own0 + 1  # + the pg_stat() below
            stats1 = self.pg_stat()
            phase.pg_stats = {k: stats1[k] - stats0[k] for k in stats0}
            phase.pg_stats["commits"] -= own
        log(
            f"{target:7} c={concurrency:<4} {phase.rps:8.1f} req/s  p50 {phase.lat('p50'):7.2f} ms"
            f"  p99 {phase.lat('p99'):7.2f} ms  errors {phase.errors}"
            + (f"  billed {phase.billed}" if target == "gateway" else "")
        )
        return phase

    def warmup(self) -> None:
        if self.args.warmup <= 0:
            return
        url = f"http://127.0.0.1:{self.gateway_port}/v1/chat/completions"
        gen0 = self.last_generation_id()
        result = self.load(url, 50, self.args.warmup, True)
        ok = Phase("gateway", 50, result, {}, 0.0).ok
        self.expected_min += ok
        self.expected_max += ok + self.in_flight(result)
        self.drain(gen0, result["requests"] + self.in_flight(result))
        log(f"warm-up: {ok} requests through the gateway")

    def run(self) -> int:
        tool = "wrk" if self.wrk else "python (bench/loadgen.py)"
        log(f"load generator: {tool}; logs {self.tmp}")
        self.start_upstream()
        self.create_db()
        self.start_gateway()
        self.conn = psycopg.connect(self.database_url, autocommit=True)
        row = self.conn.execute("SELECT pg_backend_pid()").fetchone()
        self.conn_pid = int(row[0]) if row else 0
        self.warmup()
        for c in self.args.concurrency:
            for target in ("direct", "gateway"):
                self.phases.append(self.phase(target, c, self.args.duration))
        self.conn.close()
        self.conn = None
        verify = self.bench_json(
            self.run_django(
                "-m",
                "bench.seed",
                "verify",
                "--expect-min",
                str(self.expected_min),
                "--expect-max",
                str(self.expected_max),
            )
        )
        report = self.report(verify)
        print(report)
        if self.args.json:
            Path(self.args.json).write_text(
                json.dumps(
                    {
                        "args": vars(self.args),
                        "phases": [p.__dict__ for p in self.phases],
                        "verify": verify,
                    },
                    default=str,
                    indent=2,
                )
            )
        errors_in_log = self.gunicorn_errors()
        if errors_in_log:
            print("\ngunicorn log (errors):\n" + errors_in_log)
        return 0 if verify.get("ok") else 1

    def gunicorn_errors(self) -> str:
        path = self.tmp / "gunicorn.log"
        if not path.exists():
            return ""
        lines = [
            ln
            for ln in path.read_text(errors="replace").splitlines()
            if any(w in ln for w in ("ERROR", "Traceback", "CRITICAL", "WORKER TIMEOUT"))
        ]
        return "\n".join(lines[:20])

    # --- report ---------------------------------------------------------------------------
    def report(self, verify: dict[str, Any]) -> str:
        direct = {p.concurrency: p for p in self.phases if p.target == "direct"}
        gateway = {p.concurrency: p for p in self.phases if p.target == "gateway"}
        out: list[str] = []
        tool = "wrk" if self.wrk else "python"
        extra = " ".join([*self.args.env, *self.args.gunicorn_arg])
        out.append("")
        out.append(
            f"POST /v1/chat/completions, fake upstream delay {self.args.delay_ms:g} ms, "
            f"{self.args.duration:g} s per phase, {self.args.workers} gevent workers, "
            f"{self.args.users} account(s), max_tokens "
            f"{'omitted' if self.args.omit_max_tokens else 'sent'}, load generator {tool}, "
            f"{os.cpu_count()} cores" + (f"; {extra}" if extra else "")
        )
        out.append("")
        head = (
            f"{'target':8}{'conc':>5}{'ok':>8}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}"
            f"{'p99 ms':>9}{'errors':>8}{'ovh p50':>9}{'ovh p95':>9}"
        )
        out.append(head)
        out.append("-" * len(head))
        for c in self.args.concurrency:
            for target, p in (("direct", direct.get(c)), ("gateway", gateway.get(c))):
                if p is None:
                    continue
                ovh50 = ovh95 = ""
                if target == "gateway" and c in direct:
                    ovh50 = f"{p.lat('p50') - direct[c].lat('p50'):9.2f}"
                    ovh95 = f"{p.lat('p95') - direct[c].lat('p95'):9.2f}"
                out.append(
                    f"{target:8}{c:>5}{p.ok:>8}{p.rps:>9.1f}{p.lat('p50'):>9.2f}"
                    f"{p.lat('p95'):>9.2f}{p.lat('p99'):>9.2f}{p.errors:>8}{ovh50:>9}{ovh95:>9}"
                )
        out.append("")
        out.append("CPU per billed request through the gateway (ms; /proc utime+stime):")
        head = (
            f"{'conc':>5}{'billed':>8}{'gunicorn':>10}{'pg backends':>13}{'pg shared':>11}"
            f"{'TOTAL':>8}{'fake':>7}{'loadgen':>9}{'machine':>9}  {'worker CPU split':<20}"
            f"{'RSS MB master/workers':<23}"
        )
        out.append(head)
        out.append("-" * len(head))
        for c in self.args.concurrency:
            p = gateway.get(c)
            if p is None or not p.billed:
                continue
            n = p.billed
            gw, pg, aux = p.group_cpu("gateway"), p.group_cpu("pg"), p.group_cpu("pg_aux")
            total = gw + pg + aux
            wall = p.cpu["wall"] or 1
            split = " / ".join(f"{cpu / wall * 100:.0f}%" for _, cpu in p.worker_cpu())
            rss = [v / 2**20 for v in p.rss.values()]
            rss_txt = f"{rss[0]:.0f} / " + " ".join(f"{v:.0f}" for v in rss[1:]) if rss else ""
            machine = p.cpu["machine_busy"] / (p.cpu["machine_total"] or 1) * 100
            out.append(
                f"{c:>5}{n:>8}{gw / n * 1e3:>10.2f}{pg / n * 1e3:>13.2f}{aux / n * 1e3:>11.2f}"
                f"{total / n * 1e3:>8.2f}{p.group_cpu('upstream') / n * 1e3:>7.2f}"
                f"{p.loadgen_cpu / n * 1e3:>9.2f}{machine:>8.0f}%  {split:<20}{rss_txt:<23}"
            )
        out.append(
            "  gunicorn = master + workers; pg backends = connections to the bench database; "
            "pg shared = postmaster, walwriter, checkpointer... (shared with other databases);"
        )
        out.append(
            "  TOTAL = gunicorn + pg backends + pg shared; worker CPU split in % of one core; "
            "machine = all cores busy, other load on the machine included."
        )
        out.append("")
        out.append("PostgreSQL per billed request, and what the bench database's backends did:")
        head = (
            f"{'conc':>5}{'commits':>9}{'rollbk':>8}{'ins':>6}{'upd':>6}{'del':>6}"
            f"{'new conns':>10}{'conns':>7}  mean backends: state"
        )
        out.append(head)
        out.append("-" * (len(head) + 30))
        for c in self.args.concurrency:
            p = gateway.get(c)
            if p is None or not p.billed:
                continue
            n, st = p.billed, p.pg_stats
            waits = ", ".join(f"{v:.1f} {k}" for k, v in p.waits.items() if v >= 0.05)
            out.append(
                f"{c:>5}{st.get('commits', 0) / n:>9.2f}{st.get('rollbacks', 0) / n:>8.2f}"
                f"{st.get('inserted', 0) / n:>6.1f}{st.get('updated', 0) / n:>6.1f}"
                f"{st.get('deleted', 0) / n:>6.1f}{st.get('sessions', 0):>10}{p.db_backends:>7}"
                f"  {waits}"
            )
        out.append(
            "  commits = transactions (each autocommit statement is one); new conns = "
            "connections opened in the phase; conns = open after it."
        )
        for c in self.args.concurrency:
            p = gateway.get(c)
            if p is not None and p.profile:
                out.append("")
                out.append(f"py-spy, gunicorn workers at c={c} (share of samples):")
                out.append(p.profile)
        out.append("")
        out.append("Targets:")
        c50, c1 = gateway.get(50), gateway.get(1)
        for c in self.args.concurrency:
            p = gateway.get(c)
            if p is None or not p.billed:
                continue
            total = (p.group_cpu("gateway") + p.group_cpu("pg") + p.group_cpu("pg_aux")) / p.billed
            mark = "MET" if total * 1e3 <= TARGET_CPU_MS else "NOT MET"
            out.append(
                f"  CPU per billed request at c={c:<4} {total * 1e3:7.2f} ms  "
                f"(target <= {TARGET_CPU_MS:g} ms)  {mark}"
            )
        if c50 is not None:
            rate = c50.billed / (float(c50.load.get("seconds") or 1))
            mark = "MET" if rate >= TARGET_RPS_C50 else "NOT MET"
            out.append(
                f"  billed req/s at c=50          {rate:7.1f}     "
                f"(target >= {TARGET_RPS_C50:g})     {mark}"
            )
        if c1 is not None and 1 in direct:
            ovh = c1.lat("p50") - direct[1].lat("p50")
            mark = "MET" if ovh < TARGET_OVERHEAD_P50_C1 else "NOT MET"
            out.append(
                f"  overhead p50 at c=1           {ovh:7.2f} ms  "
                f"(target < {TARGET_OVERHEAD_P50_C1:g} ms)     {mark}"
            )
        out.append("")
        out.append("Consistency after the run:")
        for name, ok in (verify.get("checks") or {}).items():
            out.append(f"  {'OK  ' if ok else 'FAIL'} {name}")
        vl = verify.get("verify_ledger")
        if vl is None:
            out.append("  verify_ledger: not available (used billing.selectors.ledger_breaches)")
        else:
            first = (str(vl.get("output") or "").strip().splitlines() or [""])[-1]
            out.append(f"  manage.py verify_ledger: {'OK' if vl.get('ok') else 'FAILED'}: {first}")
        out.append(
            f"  2xx seen {verify.get('expect_min')} (+ in flight at the cut-offs: up to "
            f"{verify.get('expect_max')}), billed Generation rows "
            f"{verify.get('billed_generations')}, failed Generation rows "
            f"{verify.get('failed_generations')}, usage entries {verify.get('usage_entries')}, "
            f"usage sum {verify.get('usage_sum')}, balance change {verify.get('balance_change')}"
        )
        for breach in verify.get("breaches") or []:
            out.append(f"  breach: {breach}")
        return "\n".join(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--warmup", type=float, default=3.0, help="gateway warm-up seconds")
    parser.add_argument(
        "--concurrency",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 50, 200],
        help="comma-separated concurrencies",
    )
    parser.add_argument("--max-requests", type=int, default=100_000, help="per phase")
    parser.add_argument("--delay-ms", type=float, default=50.0, help="fake upstream delay")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument(
        "--users", type=int, default=1, help="accounts (one key each) the requests rotate over"
    )
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--db", default="gw_bench", help="database to (re)create")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--settings", default="config.settings.production")
    parser.add_argument("--port", type=int, default=0, help="gateway port (0: any free)")
    parser.add_argument("--upstream-port", type=int, default=0)
    parser.add_argument(
        "--omit-max-tokens",
        action="store_true",
        help="send no max_tokens (the gateway then reads the spendable balance)",
    )
    parser.add_argument(
        "--env", action="append", default=[], help="KEY=VALUE for the gateway (repeatable)"
    )
    parser.add_argument(
        "--gunicorn-arg", action="append", default=[], help="extra gunicorn argument"
    )
    parser.add_argument(
        "--py-spy", action="store_true", help="sample the workers with py-spy in gateway phases"
    )
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database")
    parser.add_argument("--keep-logs", action="store_true", help="keep the temporary log dir")
    parser.add_argument("--json", default="", help="also write raw results to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bench = Bench(args)

    def on_term(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)  # also when started in the background (SIG_IGN)
    code = 1
    try:
        code = bench.run()
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
        bench.stop_all()
        if not args.keep_db:
            with contextlib.suppress(Exception):
                bench.drop_db()
        if args.keep_logs or code not in (0,):
            log(f"logs kept in {bench.tmp}")
        else:
            shutil.rmtree(bench.tmp, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
