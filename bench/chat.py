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
import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:  # also runnable as ``python bench/chat.py``
    sys.path.insert(0, str(BASE_DIR))

from bench import procstat, pyspy  # noqa: E402
from bench.chat_report import Phase, report  # noqa: E402
from bench.harness import (  # noqa: E402
    BENCH_DIR,
    PYTHON,
    Harness,
    bench_json,
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
from bench.pgactivity import BackendStates  # noqa: E402


class Bench(Harness):
    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args)
        self.phases: list[Phase] = []
        self.expected_min = 0  # 2xx the load generator saw
        self.expected_max = 0  # ... plus requests in flight when it stopped
        self.wrk = shutil.which("wrk") if args.loadgen in ("auto", "wrk") else None
        if args.loadgen == "wrk" and not self.wrk:
            raise SystemExit("--loadgen wrk: wrk is not installed")

    def start_upstream(self) -> None:
        self.start_fake(["--delay-ms", str(self.args.delay_ms)], f"{self.args.delay_ms} ms delay")

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
        output = run_tool(cmd, env, duration + 120, "load generator")
        return bench_json(output) if self.wrk else last_json_line(output)

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
        gen0 = self.last_generation_id()
        stats0 = self.pg_stat()
        own0 = self.own_queries
        states = BackendStates(self.pg_url, self.db, self.conn_pid, every_event=False)
        sampler = procstat.Sampler(self.gateway_groups(), extra=states if gateway else None)
        spies: list[tuple[Path, subprocess.Popen[bytes]]] = []
        if gateway and self.pyspy:
            for pid in self.workers():
                out = self.tmp / f"pyspy-c{concurrency}-{pid}.txt"
                spies.append((out, pyspy.record(self.pyspy, pid, duration, out)))
        rusage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        sampler.begin()
        result = self.load(self.url(target), concurrency, duration, gateway)
        for _, spy in spies:
            spy.wait(timeout=60)
        rusage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if gateway:
            # the CPU window closes once the requests in flight at the cut-off are billed,
            # so CPU and the billed count cover the same requests
            self.drain(gen0, result["requests"] + self.in_flight(result))
        cpu = sampler.end()
        states.close()
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
            assert self.master is not None
            phase.rss = {pid: procstat.rss_bytes(pid) for pid in [self.master.pid, *workers]}
            phase.db_backends = self.db_backends()
            phase.billed = self.billed_since(gen0)
            self.expected_min += phase.ok
            self.expected_max += phase.ok + self.in_flight(result)
            phase.waits = states.mean_states()
            phase.pg_stats = self.pg_stat_since(stats0, own0)
        log(
            f"{target:7} c={concurrency:<4} {phase.rps:8.1f} req/s  p50 {phase.lat('p50'):7.2f} ms"
            f"  p99 {phase.lat('p99'):7.2f} ms  errors {phase.errors}"
            + (f"  billed {phase.billed}" if target == "gateway" else "")
        )
        return phase

    def warmup(self) -> None:
        if self.args.warmup <= 0:
            return
        gen0 = self.last_generation_id()
        result = self.load(self.url("gateway"), 50, self.args.warmup, True)
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
        self.connect()
        self.warmup()
        for c in self.args.concurrency:
            for target in ("direct", "gateway"):
                self.phases.append(self.phase(target, c, self.args.duration))
        self.disconnect()
        verify = self.verify(self.expected_min, self.expected_max)
        print(report(self.args, "wrk" if self.wrk else "python", self.phases, verify))
        self.write_json(self.phases, verify)
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--warmup", type=float, default=3.0, help="gateway warm-up seconds")
    parser.add_argument(
        "--concurrency",
        type=int_list,
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
    add_server_args(parser, db="gw_bench")
    parser.add_argument(
        "--omit-max-tokens",
        action="store_true",
        help="send no max_tokens (the gateway then reads the spendable balance)",
    )
    add_gateway_args(parser, gunicorn_help="extra gunicorn argument")
    add_output_args(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return run_main(Bench(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
