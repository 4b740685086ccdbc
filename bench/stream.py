"""Benchmark of streaming POST /v1/chat/completions: many concurrent streams, direct to a fake
upstream vs through the gateway.

One run: start the fake upstream in streaming mode (bench/fake_upstream.py: 20 content
chunks 10 ms apart, each stamped with its send time), create and migrate a fresh PostgreSQL
database, seed it through the project's services (bench/seed.py), start the gateway under
gunicorn (gunicorn.conf.py: gevent workers, production settings), then for each stream count
(default 500, then 2,000) open that many streams at once straight to the fake and then
through the gateway (bench/streamgen.py: one greenlet and socket per stream). Reported: time
to the first content chunk, the relay latency of each chunk (receive time minus the fake's
send stamp), completeness, the CPU the gateway processes and the database's PostgreSQL
backends spend per stream (/proc), the gateway's RSS and the database connections at peak.
Afterwards the books are checked (verify_ledger, billed Generation rows == complete streams,
no open holds, the costs the client saw == the costs billed), and everything it started is
stopped and the database dropped.

Run from the project root: ``.venv/bin/python bench/stream.py`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:  # also runnable as ``python bench/stream.py``
    sys.path.insert(0, str(BASE_DIR))

from bench import procstat, pyspy  # noqa: E402
from bench.chat import NO_PROXY_OPENER, PYTHON, Bench, log  # noqa: E402

TARGET_TTFT_OVERHEAD_P95_MS = 100.0  # at 500 streams
TARGET_FIRST_RELAY_MS = 50.0  # first content chunk, fake -> client (p95)
TARGET_TTFT_AT = 500
LOG_PROBLEMS = re.compile(
    r"too many (clients|connections)|PoolTimeout|couldn't get a connection|pool timeout|"
    r"Traceback|ERROR|CRITICAL|WORKER TIMEOUT|Too many open files|Connection pool is full",
    re.IGNORECASE,
)
# py-spy categories of the streaming path: (name, pattern of a frame), first match wins
SPY_CATEGORIES: list[tuple[str, str]] = [
    ("auth (API key lookup)", r"^(apikey_authenticate|ApiKeyAuthentication\.authenticate) "),
    ("reserve (credits_reserve)", r"^credits_reserve "),
    ("settle (_settle)", r"^(_settle|generation_settle|generation_fail) "),
    ("upstream open (HTTP)", r"^(post_json|_post|OpenAIDialect\.stream) "),
    ("upstream read (pump: sse/ChunkStream)", r"^(_Pump\._run|sse_events|_pieces) "),
    ("relay (stream_relay/encoder)", r"^(stream_relay|ChatStreamEncoder\.) "),
    ("stream_open", r"^stream_open "),
    ("Django + DRF around the view", r"^WSGIHandler\.__call__ "),
    ("gunicorn HTTP/write", r"^(GeventWorker\.handle|AsyncWorker\.handle|PyWSGIHandler) "),
    ("gevent hub (event loop)", r"^Hub\.run "),
]


def percentile(sorted_values: list[float], p: float) -> float:
    """As bench/loadgen.py computes it (not imported: that module monkey-patches)."""
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def listen_counters() -> dict[str, int]:
    """TcpExt ListenOverflows / ListenDrops of the network namespace (accept-queue
    overflows: the listen backlog or somaxconn too small)."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return {}
    for head, values in zip(lines[::2], lines[1::2], strict=False):
        if head.startswith("TcpExt:"):
            table = dict(zip(head.split()[1:], values.split()[1:], strict=False))
            return {k: int(table.get(k, 0)) for k in ("ListenOverflows", "ListenDrops")}
    return {}


def accept_queues(ports: list[int]) -> dict[int, int]:
    """Connections waiting in the accept queue of each listening 127.0.0.1 port (for a
    LISTEN socket /proc/net/tcp's rx_queue is the accept queue's current length)."""
    want = {f"0100007F:{port:04X}": port for port in ports}
    out = dict.fromkeys(ports, 0)
    try:
        with open("/proc/net/tcp") as fh:
            for line in fh:
                parts = line.split(None, 5)
                if len(parts) > 4 and parts[3] == "0A" and parts[1] in want:
                    out[want[parts[1]]] += int(parts[4].split(":")[1], 16)
    except OSError:
        pass
    return out


def sysctl(name: str) -> str:
    try:
        return Path("/proc/sys/" + name.replace(".", "/")).read_text().strip()
    except OSError:
        return "?"


def raise_nofile() -> tuple[int, int]:
    """Soft open-file limit up to the hard limit; the gateway and the fake inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


@dataclass
class StreamPhase:
    target: str  # "direct" or "gateway"
    streams: int
    load: dict[str, Any]
    cpu: dict[str, Any]
    client_cpu: float
    workers: list[int] = field(default_factory=list)
    billed: int = 0
    billed_cost: int = 0
    rss_base: dict[int, int] = field(default_factory=dict)
    rss_peak: dict[int, int] = field(default_factory=dict)  # per pid, max seen
    rss_peak_total: int = 0  # max of the sum over master + workers
    pg_peak: int = 0  # connections to the bench database, max seen
    pg_peak_active: int = 0
    pg_after: int = 0
    pool_bound: int = 0
    accept_peak: int = 0  # connections waiting in the accept queue of the target, max seen
    upstream_conns: int = 0  # connections the fake accepted during a gateway phase
    listen: dict[str, int] = field(default_factory=dict)
    log_problems: list[str] = field(default_factory=list)
    pg_stats: dict[str, int] = field(default_factory=dict)
    waits: dict[str, float] = field(default_factory=dict)  # mean backends per state
    gen_status: dict[str, list[int]] = field(default_factory=dict)  # status: [rows, charged]
    profile: str = ""
    diag: str = ""  # with --diag: where the time went inside the workers

    @property
    def complete(self) -> int:
        return int(self.load["complete"])

    @property
    def errors(self) -> int:
        return self.streams - self.complete

    def p(self, metric: str, pct: str) -> float:
        return float(self.load[metric][pct])

    def group_cpu(self, name: str) -> float:
        return float(self.cpu["groups"].get(name, {}).get("cpu", 0.0))


class PeakSampler:
    """Called on every Sampler tick: connections to the bench database and the gateway's
    RSS, keeping the maxima."""

    def __init__(self, bench: StreamBench, pids: list[int], port: int) -> None:
        self.bench = bench
        self.pids = pids
        self.port = port
        self.accept_peak = 0
        self.conn = psycopg.connect(f"{bench.pg_url}/postgres", autocommit=True)
        self.lock = threading.Lock()
        self.pg_peak = 0
        self.pg_peak_active = 0
        self.rss_peak: dict[int, int] = {}
        self.rss_peak_total = 0
        self.samples = 0
        self.states: dict[str, int] = {}

    def __call__(self) -> None:
        rss = {pid: procstat.rss_bytes(pid) for pid in self.pids}
        queued = accept_queues([self.port])[self.port]
        try:
            rows = self.conn.execute(
                "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> %s AND backend_type = 'client backend'",
                [self.bench.db, self.bench.conn_pid],
            ).fetchall()
        except psycopg.Error:
            rows = None
        with self.lock:
            for pid, value in rss.items():
                self.rss_peak[pid] = max(self.rss_peak.get(pid, 0), value)
            self.rss_peak_total = max(self.rss_peak_total, sum(rss.values()))
            self.accept_peak = max(self.accept_peak, queued)
            if rows is None:
                return
            self.samples += 1
            self.pg_peak = max(self.pg_peak, len(rows))
            self.pg_peak_active = max(self.pg_peak_active, sum(r[0] != "idle" for r in rows))
            for state, wtype, wevent in rows:
                if state == "active":
                    key = f"wait {wtype}:{wevent}" if wtype else "running"
                else:
                    key = state or "?"
                self.states[key] = self.states.get(key, 0) + 1

    def mean_states(self) -> dict[str, float]:
        n = max(1, self.samples)
        return {k: v / n for k, v in sorted(self.states.items(), key=lambda kv: -kv[1])}

    def close(self) -> None:
        self.conn.close()


class StreamBench(Bench):
    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args)
        self.phases: list[StreamPhase] = []  # type: ignore[assignment]
        self.completed_gateway = 0  # complete streams through the gateway, warm-up included
        self.log_offset = 0
        if args.whatif_admission:
            args.diag = True
            args.env = [*args.env, f"BENCH_WHATIF_ADMISSION={args.whatif_admission}"]
        if args.whatif_upstream_reuse:
            args.diag = True
            args.env = [*args.env, "BENCH_WHATIF_UPSTREAM_REUSE=1"]
        if args.diag:
            # the production settings plus instrumentation (a later -c wins in gunicorn)
            args.gunicorn_arg = [*args.gunicorn_arg, "-c", "bench/gunicorn_diag.py"]
            args.env = [*args.env, f"BENCH_DIAG_DIR={self.tmp}"]

    # --- setup ----------------------------------------------------------------------------
    def start_upstream(self) -> None:
        cmd = [
            PYTHON,
            "-m",
            "bench.fake_upstream",
            "--port",
            str(self.upstream_port),
            "--delay-ms",
            "0",
            "--stream-chunks",
            str(self.args.chunks),
            "--stream-interval-ms",
            str(self.args.interval_ms),
            "--backlog",
            str(self.args.fake_backlog),
        ]
        self.fake = self.spawn("upstream", cmd, {**os.environ, "PYTHONPATH": str(BASE_DIR)})
        self.wait_http(
            f"http://127.0.0.1:{self.upstream_port}/v1/chat/completions",
            "upstream",
            self.fake,
            method="POST",
        )
        log(
            f"fake upstream on 127.0.0.1:{self.upstream_port} (streams: {self.args.chunks} "
            f"chunks {self.args.interval_ms:g} ms apart)"
        )

    def body_file(self) -> Path:
        body = {
            "model": "bench/echo",
            "messages": [
                {"role": "system", "content": "You are a terse assistant."},
                {"role": "user", "content": "Say hello to the benchmark, in a few words please"},
            ],
            "temperature": 0,
            "max_tokens": max(64, self.args.chunks),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        path = self.tmp / "stream-body.json"
        path.write_text(json.dumps(body))
        return path

    def pool_bound(self) -> int:
        env = dict(item.partition("=")[::2] for item in self.args.env)
        if env.get("DB_POOL", "true").lower() in ("0", "false", "no", "off"):
            return 0
        return int(env.get("DB_POOL_MAX_SIZE", 20)) * self.args.workers

    # --- measuring ------------------------------------------------------------------------
    def streamgen(self, url: str, streams: int, keyed: bool) -> dict[str, Any]:
        cmd = [PYTHON, "-m", "bench.streamgen", "--url", url, "-n", str(streams)]
        cmd += ["--body-file", str(self.body_file()), "--chunks", str(self.args.chunks)]
        cmd += ["--timeout", str(self.args.timeout), "--ramp", str(self.args.ramp)]
        if keyed:
            cmd += ["--keys-file", str(self.keys_file), "--expect-cost"]
        res = subprocess.run(
            cmd,
            cwd=BASE_DIR,
            env={**os.environ, "PYTHONPATH": str(BASE_DIR)},
            capture_output=True,
            text=True,
            timeout=self.args.timeout * 4 + 120,
            check=False,
        )
        if res.returncode != 0:
            raise RuntimeError(f"stream client failed:\n{res.stdout}\n{res.stderr}")
        return json.loads(res.stdout.strip().splitlines()[-1])

    def new_log_problems(self) -> list[str]:
        path = self.tmp / "gunicorn.log"
        if not path.exists():
            return []
        with open(path, "rb") as fh:
            fh.seek(self.log_offset)
            data = fh.read()
        self.log_offset += len(data)
        lines = data.decode(errors="replace").splitlines()
        return [ln for ln in lines if LOG_PROBLEMS.search(ln)]

    def fake_stats(self) -> dict[str, int]:
        url = f"http://127.0.0.1:{self.upstream_port}/stats"
        with NO_PROXY_OPENER.open(url, timeout=5) as resp:
            return json.loads(resp.read())

    def billed_cost_since(self, since_id: int) -> int:
        return int(
            self.query(
                "SELECT coalesce(sum(cost), 0) FROM gateway_generation "
                "WHERE id > %s AND status = 'success'",
                [since_id],
            )[0]
        )

    def phase(self, target: str, streams: int) -> StreamPhase:  # type: ignore[override]
        gateway = target == "gateway"
        port = self.gateway_port if gateway else self.upstream_port
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        gen0 = self.last_generation_id()
        stats0 = self.pg_stat()
        own0 = self.own_queries
        workers = self.workers()
        assert self.master is not None
        pids = [self.master.pid, *workers]
        rss_base = {pid: procstat.rss_bytes(pid) for pid in pids}
        peaks = PeakSampler(self, pids, port)
        sampler = procstat.Sampler(self.gateway_groups(), interval=0.1, extra=peaks)
        spies: list[tuple[Path, subprocess.Popen[bytes]]] = []
        if gateway and self.pyspy:
            for pid in workers:
                out = self.tmp / f"pyspy-n{streams}-{pid}.txt"
                spies.append((out, pyspy.record(self.pyspy, pid, self.args.py_spy_seconds, out)))
        self.new_log_problems()  # skip what came before
        fake0 = self.fake_stats()
        listen0 = listen_counters()
        rusage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t_begin = time.perf_counter()
        sampler.begin()
        result = self.streamgen(url, streams, gateway)
        rusage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if gateway:
            # every complete stream was settled before its usage chunk was sent; the others
            # (cancelled, failed) are written when the gateway notices
            self.drain(gen0, streams, timeout=5.0)
        t_end = time.perf_counter()
        cpu = sampler.end()
        peaks.close()
        for _, spy in spies:
            spy.wait(timeout=60)
        listen1 = listen_counters()
        phase = StreamPhase(
            target=target,
            streams=streams,
            load=result,
            cpu=cpu,
            # the client's own count leaves out its start-up (imports)
            client_cpu=float(
                result.get("cpu_seconds")
                or (rusage1.ru_utime + rusage1.ru_stime) - (rusage0.ru_utime + rusage0.ru_stime)
            ),
            workers=workers,
            rss_base=rss_base,
            rss_peak=dict(peaks.rss_peak),
            rss_peak_total=peaks.rss_peak_total,
            pg_peak=peaks.pg_peak,
            pg_peak_active=peaks.pg_peak_active,
            pool_bound=self.pool_bound(),
            listen={k: listen1.get(k, 0) - v for k, v in listen0.items()},
            waits=peaks.mean_states(),
            accept_peak=peaks.accept_peak,
        )
        if gateway:
            # only the gateway talks to the fake in a gateway phase
            phase.upstream_conns = self.fake_stats()["connections"] - fake0["connections"] - 1
        if gateway and self.args.diag:
            time.sleep(0.2)  # the workers flush their diagnostic files every 50 ms
            phase.diag = diag_summary(self.tmp, t_begin, t_end)
        if spies:
            phase.profile = summarize_spy([out for out, _ in spies])
        if gateway:
            phase.billed = self.billed_since(gen0)
            phase.billed_cost = self.billed_cost_since(gen0)
            assert self.conn is not None
            self.own_queries += 1
            phase.gen_status = {
                str(status): [int(rows), int(charged)]
                for status, rows, charged in self.conn.execute(
                    "SELECT status, count(*), count(ledger_entry_id) FROM gateway_generation "
                    "WHERE id > %s GROUP BY status ORDER BY status",
                    [gen0],
                ).fetchall()
            }
            phase.pg_after = self.db_backends() - 1  # less this script's connection
            self.completed_gateway += phase.complete
            phase.log_problems = self.new_log_problems()
            time.sleep(1.2)  # backends publish their transaction counts within a second
            own = self.own_queries - own0 + 1
            stats1 = self.pg_stat()
            phase.pg_stats = {k: stats1[k] - stats0[k] for k in stats0}
            phase.pg_stats["commits"] -= own
        log(
            f"{target:7} n={streams:<5} complete {phase.complete:5}  errors {phase.errors:4}  "
            f"TTFT p50 {phase.p('ttft_ms', 'p50'):7.1f} p95 {phase.p('ttft_ms', 'p95'):7.1f} ms"
            f"  first-chunk relay p95 {phase.p('relay_first_ms', 'p95'):6.1f} ms  "
            f"{result['seconds']:.2f} s"
            + (f"  billed {phase.billed}  pg conns peak {phase.pg_peak}" if gateway else "")
        )
        if result["errors"]:
            log(f"  error kinds: {result['errors']}")
        time.sleep(self.args.pause)
        return phase

    def warmup(self) -> None:
        if self.args.warmup <= 0:
            return
        url = f"http://127.0.0.1:{self.gateway_port}/v1/chat/completions"
        gen0 = self.last_generation_id()
        result = self.streamgen(url, self.args.warmup, True)
        self.completed_gateway += int(result["complete"])
        self.drain(gen0, self.args.warmup, timeout=5.0)
        log(
            f"warm-up: {result['complete']}/{self.args.warmup} streams through the gateway"
            + (f"; errors {result['errors']}" if result["errors"] else "")
        )
        time.sleep(self.args.pause)

    def run(self) -> int:
        nofile = raise_nofile()
        somaxconn = sysctl("net.core.somaxconn")
        log(
            f"open files {nofile[0]} (hard {nofile[1]}), somaxconn {somaxconn}, "
            f"tcp_max_syn_backlog {sysctl('net.ipv4.tcp_max_syn_backlog')}, "
            f"ports {sysctl('net.ipv4.ip_local_port_range')}; logs {self.tmp}"
        )
        biggest = max(self.args.streams)
        if nofile[0] < 2 * biggest + 1024:
            log(f"WARNING: open-file limit {nofile[0]} is low for {biggest} streams")
        if somaxconn.isdigit() and int(somaxconn) < biggest:
            log(f"WARNING: somaxconn {somaxconn} < {biggest}: accept queues may overflow")
        self.start_upstream()
        self.create_db()
        self.start_gateway()
        self.conn = psycopg.connect(self.database_url, autocommit=True)
        row = self.conn.execute("SELECT pg_backend_pid()").fetchone()
        self.conn_pid = int(row[0]) if row else 0
        self.warmup()
        for n in self.args.streams:
            for target in ("direct", "gateway"):
                self.phases.append(self.phase(target, n))
        self.conn.close()
        self.conn = None
        verify = self.bench_json(
            self.run_django(
                "-m",
                "bench.seed",
                "verify",
                "--expect-min",
                str(self.completed_gateway),
                "--expect-max",
                str(self.completed_gateway),
            )
        )
        checks = self.checks(verify)
        print(self.report(verify, checks, nofile, somaxconn))
        if self.args.json:
            Path(self.args.json).write_text(
                json.dumps(
                    {
                        "args": vars(self.args),
                        "phases": [p.__dict__ for p in self.phases],
                        "verify": verify,
                        "checks": checks,
                    },
                    default=str,
                    indent=2,
                )
            )
        return 0 if all(checks.values()) else 1

    def checks(self, verify: dict[str, Any]) -> dict[str, bool]:
        gw = [p for p in self.phases if p.target == "gateway"]
        out = {
            "zero errors (every stream: 200, all content chunks, usage, [DONE])": all(
                p.errors == 0 for p in self.phases
            ),
            "every gateway usage chunk carries cost; sum == billed Generation.cost": all(
                p.load["cost_sum"] == p.billed_cost for p in gw
            ),
            "no pool timeout / too many connections / errors in the gunicorn log": not any(
                p.log_problems for p in gw
            ),
            "PostgreSQL connections bounded by the pools (workers x DB_POOL_MAX_SIZE)": all(
                not p.pool_bound or p.pg_peak <= p.pool_bound for p in gw
            ),
        }
        for name, ok in (verify.get("checks") or {}).items():
            out[name] = bool(ok)
        vl = verify.get("verify_ledger")
        out["manage.py verify_ledger"] = vl is None or bool(vl.get("ok"))
        return out

    # --- report ---------------------------------------------------------------------------
    def report(
        self,
        verify: dict[str, Any],
        checks: dict[str, bool],
        nofile: tuple[int, int],
        somaxconn: str,
    ) -> str:
        direct = {p.streams: p for p in self.phases if p.target == "direct"}
        gateway = {p.streams: p for p in self.phases if p.target == "gateway"}
        a = self.args
        out: list[str] = [""]
        extra = " ".join([*a.env, *a.gunicorn_arg])
        out.append(
            f"Streaming POST /v1/chat/completions: {a.chunks} content chunks {a.interval_ms:g} ms "
            f"apart, streams opened {'at once' if not a.ramp else f'over {a.ramp:g} s'}, "
            f"{a.workers} gevent workers, {a.users} account(s), {os.cpu_count()} cores, "
            f"open files {nofile[0]}, somaxconn {somaxconn}" + (f"; {extra}" if extra else "")
        )
        out.append("")
        out.append("Time to first content chunk from request start (ms), completeness:")
        head = (
            f"{'target':8}{'streams':>8}{'complete':>9}{'errors':>7}{'secs':>7}{'open':>6}"
            f"{'strm':>6}{'TTFT p50':>9}{'p95':>8}{'p99':>8}{'max':>8}{'ovh p50':>9}{'ovh p95':>9}"
        )
        out.append(head)
        out.append("-" * len(head))
        for n in a.streams:
            for target, p in (("direct", direct.get(n)), ("gateway", gateway.get(n))):
                if p is None:
                    continue
                ovh50 = ovh95 = ""
                if target == "gateway" and n in direct:
                    d = direct[n]
                    ovh50 = f"{p.p('ttft_ms', 'p50') - d.p('ttft_ms', 'p50'):9.1f}"
                    ovh95 = f"{p.p('ttft_ms', 'p95') - d.p('ttft_ms', 'p95'):9.1f}"
                out.append(
                    f"{target:8}{n:>8}{p.complete:>9}{p.errors:>7}{p.load['seconds']:>7.2f}"
                    f"{p.load['peak_open']:>6}{p.load['peak_streaming']:>6}"
                    f"{p.p('ttft_ms', 'p50'):>9.1f}"
                    f"{p.p('ttft_ms', 'p95'):>8.1f}{p.p('ttft_ms', 'p99'):>8.1f}"
                    f"{p.p('ttft_ms', 'max'):>8.1f}{ovh50:>9}{ovh95:>9}"
                )
        out.append(
            "  secs = first connect to last close; open / strm = most streams open / receiving "
            "(first byte to close) at once, client side; ovh = gateway minus direct."
        )
        out.append("")
        out.append("Where the TTFT goes (client side, p50 / p95 ms) and stream duration:")
        head = (
            f"{'target':8}{'streams':>8}{'connect':>16}{'first byte':>16}{'TTFT':>16}"
            f"{'duration':>16}"
        )
        out.append(head)
        out.append("-" * len(head))
        for n in a.streams:
            for target, p in (("direct", direct.get(n)), ("gateway", gateway.get(n))):
                if p is None:
                    continue
                cells = "".join(
                    f"{p.p(m, 'p50'):>8.1f} /{p.p(m, 'p95'):>6.1f}"
                    for m in ("connect_ms", "first_byte_ms", "ttft_ms", "duration_ms")
                )
                out.append(f"{target:8}{n:>8}{cells}")
        out.append("")
        out.append("Relay latency of a chunk: client receive time minus the fake's send stamp, ms:")
        head = (
            f"{'target':8}{'streams':>8}{'first p50':>10}{'p95':>8}{'max':>8}"
            f"{'all p50':>10}{'p95':>8}{'max':>8}{'keep-alives':>13}"
        )
        out.append(head)
        out.append("-" * len(head))
        for n in a.streams:
            for target, p in (("direct", direct.get(n)), ("gateway", gateway.get(n))):
                if p is None:
                    continue
                out.append(
                    f"{target:8}{n:>8}{p.p('relay_first_ms', 'p50'):>10.1f}"
                    f"{p.p('relay_first_ms', 'p95'):>8.1f}{p.p('relay_first_ms', 'max'):>8.1f}"
                    f"{p.p('relay_all_ms', 'p50'):>10.1f}{p.p('relay_all_ms', 'p95'):>8.1f}"
                    f"{p.p('relay_all_ms', 'max'):>8.1f}{p.load['keepalives']:>13}"
                )
        out.append("  first = the first content chunk of each stream; all = every content chunk.")
        out.append("")
        out.append("CPU per stream (ms; /proc utime+stime), memory, database connections:")
        head = (
            f"{'target':8}{'streams':>8}{'gunicorn':>9}{'pg bk':>7}{'pg sh':>7}{'TOTAL':>7}"
            f"{'fake':>6}{'client':>7}{'machine':>8}  {'workers':<10}{'RSS MB peak':>12}"
            f"{'KB/strm':>8}{'pg conns':>9}{'/bound':>7}{'acc q':>6}{'ovf':>5}"
        )
        out.append(head)
        out.append("-" * len(head))
        for n in a.streams:
            for target, p in (("direct", direct.get(n)), ("gateway", gateway.get(n))):
                if p is None:
                    continue
                count = p.billed if target == "gateway" else p.complete
                count = count or p.streams
                gw, pg, aux = p.group_cpu("gateway"), p.group_cpu("pg"), p.group_cpu("pg_aux")
                wall = p.cpu["wall"] or 1
                machine = p.cpu["machine_busy"] / (p.cpu["machine_total"] or 1) * 100
                ovf = sum(p.listen.values())
                if target == "direct":
                    out.append(
                        f"{target:8}{n:>8}{'':>9}{'':>7}{'':>7}{'':>7}"
                        f"{p.group_cpu('upstream') / count * 1e3:>6.2f}"
                        f"{p.client_cpu / count * 1e3:>7.2f}{machine:>7.0f}%  {'':<10}{'':>12}"
                        f"{'':>8}{'':>9}{'':>7}{p.accept_peak:>6}{ovf:>5}"
                    )
                    continue
                per_pid = p.cpu["groups"]["gateway"]["per_pid"]
                split = "/".join(f"{per_pid.get(w, 0.0) / wall * 100:.0f}%" for w in p.workers)
                grew = p.rss_peak_total - sum(p.rss_base.values())
                out.append(
                    f"{target:8}{n:>8}{gw / count * 1e3:>9.2f}{pg / count * 1e3:>7.2f}"
                    f"{aux / count * 1e3:>7.2f}{(gw + pg + aux) / count * 1e3:>7.2f}"
                    f"{p.group_cpu('upstream') / count * 1e3:>6.2f}"
                    f"{p.client_cpu / count * 1e3:>7.2f}{machine:>7.0f}%  {split:<10}"
                    f"{p.rss_peak_total / 2**20:>12.0f}{grew / n / 1024:>8.1f}"
                    f"{p.pg_peak:>9}{p.pool_bound or '-':>7}{p.accept_peak:>6}{ovf:>5}"
                )
        out.append(
            "  gunicorn = master + workers; pg bk = backends of the bench database; pg sh = "
            "postmaster, walwriter... (shared); TOTAL = the three;"
        )
        out.append(
            "  workers = each worker's CPU in % of one core over the phase; RSS = master + "
            "workers at peak; KB/strm = peak growth over the idle RSS per stream;"
        )
        out.append(
            "  pg conns = connections to the bench database at peak (this script's own left "
            "out); acc q = most connections waiting in the target's accept queue (sampled "
            "every 0.1 s); ovf = TCP listen-queue overflows + drops."
        )
        rss_lines = []
        for n in a.streams:
            p = gateway.get(n)
            if p is not None and p.rss_peak:
                parts = " / ".join(f"{v / 2**20:.0f}" for v in p.rss_peak.values())
                base = " / ".join(f"{v / 2**20:.0f}" for v in p.rss_base.values())
                rss_lines.append(
                    f"  n={n}: RSS MB master / workers at peak {parts} (idle before {base}); "
                    f"upstream connections opened {p.upstream_conns} for {n} streams; "
                    f"pg conns at peak {p.pg_peak} ({p.pg_peak_active} not idle), open after "
                    f"{p.pg_after}; PostgreSQL per stream: "
                    f"{p.pg_stats.get('commits', 0) / max(1, p.billed):.2f} commits, "
                    f"{p.pg_stats.get('sessions', 0)} new connections in the phase"
                )
        out.extend(rss_lines)
        for n in a.streams:
            p = gateway.get(n)
            if p is not None and p.waits:
                waits = ", ".join(f"{v:.1f} {k}" for k, v in p.waits.items() if v >= 0.05)
                out.append(f"  n={n}: bench database backends, mean by state: {waits}")
        for n in a.streams:
            p = gateway.get(n)
            if p is not None and p.diag:
                out.append("")
                out.append(f"Inside the workers at n={n} (--diag, ms):")
                out.append(p.diag)
        for n in a.streams:
            p = gateway.get(n)
            if p is not None and p.profile:
                out.append("")
                out.append(f"py-spy, gunicorn workers at n={n} (share of samples):")
                out.append(p.profile)
        out.append("")
        out.append("Targets:")
        d, g = direct.get(TARGET_TTFT_AT), gateway.get(TARGET_TTFT_AT)
        if d is not None and g is not None:
            ovh = g.p("ttft_ms", "p95") - d.p("ttft_ms", "p95")
            out.append(
                f"  TTFT overhead p95 at {TARGET_TTFT_AT} streams   {ovh:8.1f} ms "
                f"(target < {TARGET_TTFT_OVERHEAD_P95_MS:g} ms)  "
                f"{'MET' if ovh < TARGET_TTFT_OVERHEAD_P95_MS else 'NOT MET'}"
            )
        for n in a.streams:
            p = gateway.get(n)
            if p is None:
                continue
            v = p.p("relay_first_ms", "p95")
            out.append(
                f"  first-chunk relay p95 at {n:<5} streams {v:7.1f} ms "
                f"(target < {TARGET_FIRST_RELAY_MS:g} ms)   "
                f"{'MET' if v < TARGET_FIRST_RELAY_MS else 'NOT MET'}  "
                f"(max {p.p('relay_first_ms', 'max'):.1f} ms)"
            )
        out.append("")
        out.append("Checks:")
        for name, ok in checks.items():
            out.append(f"  {'OK  ' if ok else 'FAIL'} {name}")
        vl = verify.get("verify_ledger")
        if vl is not None:
            last = (str(vl.get("output") or "").strip().splitlines() or [""])[-1]
            out.append(f"  verify_ledger said: {last}")
        out.append(
            f"  complete streams through the gateway {self.completed_gateway} (warm-up "
            f"included), billed Generation rows {verify.get('billed_generations')}, failed or "
            f"cancelled rows {verify.get('failed_generations')}, open holds "
            f"{verify.get('open_holds')}, held {verify.get('held')}, usage sum "
            f"{verify.get('usage_sum')}, balance change {verify.get('balance_change')}"
        )
        for p in self.phases:
            if set(p.gen_status) - {"success"}:
                rows = ", ".join(
                    f"{status} {n} ({charged} charged)"
                    for status, (n, charged) in p.gen_status.items()
                )
                out.append(f"  {p.target} n={p.streams}: Generation rows: {rows}")
            for kind, count in (p.load.get("errors") or {}).items():
                out.append(f"  {p.target} n={p.streams}: {count} x {kind}")
            for line in p.log_problems[:10]:
                out.append(f"  gunicorn log n={p.streams}: {line[:200]}")
        for breach in verify.get("breaches") or []:
            out.append(f"  breach: {breach}")
        return "\n".join(out)


def diag_summary(tmp: Path, t0: float, t1: float) -> str:
    """Per-request phases and per-tick worker state from bench/gunicorn_diag.py's files,
    for the requests that entered the app between ``t0`` and ``t1`` (perf_counter, which
    is CLOCK_MONOTONIC: one clock for every process)."""
    reqs: list[dict[str, float]] = []
    ticks: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(tmp.glob("diag-*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if rec.get("k") == "req" and t0 <= rec.get("a", 0) <= t1:
                reqs.append(rec)
            elif rec.get("k") == "tick" and t0 <= rec.get("t", 0) <= t1:
                ticks.setdefault(path.stem, []).append(rec)
    if not reqs:
        return "  (no diagnostic records)"

    def pct(values: list[float]) -> str:
        values = sorted(v * 1000 for v in values)
        if not values:
            return "-"
        return (
            f"p50 {percentile(values, 50):7.1f}  p95 {percentile(values, 95):7.1f}  "
            f"max {values[-1]:7.1f}"
        )

    def span(a: str, b: str) -> list[float]:
        return [r[b] - r[a] for r in reqs if r.get(a) is not None and r.get(b) is not None]

    out = [
        f"  {len(reqs)} requests; per request, from the worker greenlet starting on the "
        "accepted connection:",
        f"    HTTP parse + wait to enter the app        {pct(span('h', 'a'))}",
        *(
            [f"    waiting for admission (what-if)           {pct(span('a', 'g'))}"]
            if any("g" in r for r in reqs)
            else []
        ),
        f"    app: auth, reserve, upstream first chunk  {pct(span('a', 'r'))}",
        f"    response returned -> first body piece     {pct(span('r', 'f'))}",
        f"    accepted -> first body piece (server TTFT) {pct(span('h', 'f'))}",
        f"    first body piece -> close                 {pct(span('f', 'c'))}",
    ]
    for name, rows in sorted(ticks.items()):
        lag = [r["lag"] for r in rows]
        waiting = max((r.get("requests_waiting", 0) for r in rows), default=0)
        size = max((r.get("pool_size", 0) for r in rows), default=0)
        first, last = rows[0], rows[-1]

        def delta(key: str, a: dict[str, Any] = first, b: dict[str, Any] = last) -> int:
            return int(b.get(key, 0)) - int(a.get(key, 0))

        queued = delta("requests_queued")
        out.append(
            f"  {name}: event-loop lag {pct(lag)}; pool size max {size}, clients waiting "
            f"max {waiting}, {delta('requests_num')} checkouts, {queued} queued, waited "
            f"{delta('requests_wait_ms') / max(1, queued):.1f} ms each, "
            f"{delta('connections_num')} connections opened; in the app max "
            f"{max(r['active'] for r in rows)}"
        )
    return "\n".join(out)


def summarize_spy(files: list[Path]) -> str:
    saved = pyspy.CATEGORIES
    pyspy.CATEGORIES = SPY_CATEGORIES
    try:
        return pyspy.summarize(files)
    finally:
        pyspy.CATEGORIES = saved


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--streams",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[500, 2000],
        help="comma-separated numbers of concurrent streams, one phase pair each",
    )
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per stream")
    parser.add_argument("--interval-ms", type=float, default=10.0, help="between chunks")
    parser.add_argument(
        "--ramp", type=float, default=0.0, help="spread the stream starts over this many seconds"
    )
    parser.add_argument("--warmup", type=int, default=100, help="warm-up streams (gateway)")
    parser.add_argument("--pause", type=float, default=2.0, help="seconds between phases")
    parser.add_argument("--timeout", type=float, default=60.0, help="client socket timeout")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument(
        "--users", type=int, default=1, help="accounts (one key each) the streams rotate over"
    )
    parser.add_argument("--db", default="gw_bench_stream", help="database to (re)create")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--settings", default="config.settings.production")
    parser.add_argument("--port", type=int, default=0, help="gateway port (0: any free)")
    parser.add_argument("--upstream-port", type=int, default=0)
    parser.add_argument("--fake-backlog", type=int, default=4096, help="fake's listen backlog")
    parser.add_argument(
        "--env", action="append", default=[], help="KEY=VALUE for the gateway (repeatable)"
    )
    parser.add_argument(
        "--gunicorn-arg",
        action="append",
        default=[],
        help="extra gunicorn argument, e.g. --gunicorn-arg=--backlog=4096",
    )
    parser.add_argument(
        "--py-spy", action="store_true", help="sample the workers with py-spy in gateway phases"
    )
    parser.add_argument("--py-spy-seconds", type=float, default=5.0)
    parser.add_argument(
        "--diag",
        action="store_true",
        help="run gunicorn with bench/gunicorn_diag.py (production settings + per-request "
        "timing, event-loop lag and DB pool stats) and report where the time went",
    )
    parser.add_argument(
        "--whatif-admission",
        type=int,
        default=0,
        metavar="K",
        help="what-if (implies --diag): at most K requests per worker in admission (auth, "
        "reserve, upstream open) at once, the rest wait before Django",
    )
    parser.add_argument(
        "--whatif-upstream-reuse",
        action="store_true",
        help="what-if (implies --diag): a finished stream returns its upstream connection to "
        "the keep-alive pool instead of shutting it down",
    )
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database")
    parser.add_argument("--keep-logs", action="store_true", help="keep the temporary log dir")
    parser.add_argument("--json", default="", help="also write raw results to this file")
    args = parser.parse_args(argv)
    # what bench.chat.Bench reads and this benchmark does not vary
    args.loadgen = "python"
    args.delay_ms = 0.0
    args.omit_max_tokens = False
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bench = StreamBench(args)

    def on_term(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
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
        if bench.conn is not None:
            with contextlib.suppress(Exception):
                bench.conn.close()
        bench.stop_all()
        if not args.keep_db:
            with contextlib.suppress(Exception):
                bench.drop_db()
        if args.keep_logs or code != 0:
            log(f"logs kept in {bench.tmp}")
        else:
            shutil.rmtree(bench.tmp, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
