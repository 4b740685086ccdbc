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
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:  # also runnable as ``python bench/stream.py``
    sys.path.insert(0, str(BASE_DIR))

from bench import procstat, pyspy  # noqa: E402
from bench.harness import (  # noqa: E402
    NO_PROXY_OPENER,
    PYTHON,
    Harness,
    last_json_line,
    log,
    run_main,
    run_tool,
)
from bench.options import (  # noqa: E402
    add_gateway_args,
    add_output_args,
    add_server_args,
    int_list,
)
from bench.stream_report import StreamPhase, report  # noqa: E402
from bench.stream_watch import (  # noqa: E402
    PeakSampler,
    listen_counters,
    raise_nofile,
    sysctl,
)

LOG_PROBLEMS = re.compile(
    r"too many (clients|connections)|PoolTimeout|couldn't get a connection|pool timeout|"
    r"Traceback|ERROR|CRITICAL|WORKER TIMEOUT|Too many open files|Connection pool is full",
    re.IGNORECASE,
)


class StreamBench(Harness):
    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args)
        self.phases: list[StreamPhase] = []
        self.completed_gateway = 0  # complete streams through the gateway, warm-up included
        self.log_offset = 0

    # --- setup ----------------------------------------------------------------------------
    def start_upstream(self) -> None:
        a = self.args
        options = ["--delay-ms", "0", "--stream-chunks", str(a.chunks)]
        options += ["--stream-interval-ms", str(a.interval_ms), "--backlog", str(a.fake_backlog)]
        self.start_fake(options, f"streams: {a.chunks} chunks {a.interval_ms:g} ms apart")

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
        env = {**os.environ, "PYTHONPATH": str(BASE_DIR)}
        timeout = self.args.timeout * 4 + 120
        return last_json_line(run_tool(cmd, env, timeout, "stream client"))

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
        with NO_PROXY_OPENER.open(self.url("direct", "/stats"), timeout=5) as resp:
            return json.loads(resp.read())

    def billed_cost_since(self, since_id: int) -> int:
        return int(
            self.query(
                "SELECT coalesce(sum(cost), 0) FROM gateway_generation "
                "WHERE id > %s AND status = 'success'",
                [since_id],
            )[0]
        )

    def phase(self, target: str, streams: int) -> StreamPhase:
        gateway = target == "gateway"
        port = self.gateway_port if gateway else self.upstream_port
        gen0 = self.last_generation_id()
        stats0 = self.pg_stat()
        own0 = self.own_queries
        workers = self.workers()
        assert self.master is not None
        pids = [self.master.pid, *workers]
        rss_base = {pid: procstat.rss_bytes(pid) for pid in pids}
        peaks = PeakSampler(self.pg_url, self.db, self.conn_pid, pids, port)
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
        sampler.begin()
        result = self.streamgen(self.url(target), streams, gateway)
        rusage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if gateway:
            # every complete stream was settled before its usage chunk was sent; the others
            # (cancelled, failed) are written when the gateway notices
            self.drain(gen0, streams, timeout=5.0)
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
        if spies:
            phase.profile = pyspy.summarize([out for out, _ in spies], pyspy.STREAM_CATEGORIES)
        if gateway:
            phase.billed = self.billed_since(gen0)
            phase.billed_cost = self.billed_cost_since(gen0)
            phase.gen_status = {
                str(status): [int(rows), int(charged)]
                for status, rows, charged in self.query_all(
                    "SELECT status, count(*), count(ledger_entry_id) FROM gateway_generation "
                    "WHERE id > %s GROUP BY status ORDER BY status",
                    [gen0],
                )
            }
            phase.pg_after = self.db_backends() - 1  # less this script's connection
            self.completed_gateway += phase.complete
            phase.log_problems = self.new_log_problems()
            phase.pg_stats = self.pg_stat_since(stats0, own0)
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
        gen0 = self.last_generation_id()
        result = self.streamgen(self.url("gateway"), self.args.warmup, True)
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
        self.connect()
        self.warmup()
        for n in self.args.streams:
            for target in ("direct", "gateway"):
                self.phases.append(self.phase(target, n))
        self.disconnect()
        verify = self.verify(self.completed_gateway, self.completed_gateway)
        checks = self.checks(verify)
        print(
            report(
                self.args, self.phases, self.completed_gateway, verify, checks, nofile, somaxconn
            )
        )
        self.write_json(self.phases, verify, checks=checks)
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--streams",
        type=int_list,
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
    add_server_args(parser, db="gw_bench_stream")
    parser.add_argument("--fake-backlog", type=int, default=4096, help="fake's listen backlog")
    add_gateway_args(
        parser, gunicorn_help="extra gunicorn argument, e.g. --gunicorn-arg=--backlog=4096"
    )
    parser.add_argument("--py-spy-seconds", type=float, default=5.0)
    add_output_args(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return run_main(StreamBench(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
