"""Before/after comparison of two builds: bench/chat.py and bench/stream.py on each, alternating.

    .venv/bin/python bench/compare.py OLD NEW          # commits (or worktree paths)
    .venv/bin/python bench/compare.py ed7be25 HEAD --runs 3

OLD and NEW are git commits of this repository (each gets its own detached worktree under
``--worktrees``, reused when already there, and its own venv through ``bin/setup``) or paths
of existing worktrees. Each build gets its own database (``--old-db``, ``--new-db``).

This tree's bench measures both builds (``--build``): the same load generators, samplers,
SQL count and report on both sides, so a difference is the build's, not the bench's (an
older build's bench may lack the SQL count or count differently). What runs inside a build
is the build's own: its code and venv, its gunicorn.conf.py (wrapped by
bench/gunicorn_sqlcount.py) and its bench/seed.py (which calls that build's services).

For each of ``--runs`` rounds: chat.py at ``--concurrency`` (default 1,50,200) on OLD, then
on NEW; then stream.py at ``--streams`` (default 500) on OLD, then on NEW. Then one table:
min-max over the runs of each build and the change of the medians. Raw JSON and each run's
own report are kept in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from bench.chat_report import Phase  # noqa: E402
from bench.common import PYTHON, log  # noqa: E402
from bench.stream_report import StreamPhase  # noqa: E402

PRODUCT_DIRS = ("accounts", "billing", "catalog", "config", "gateway")
CHAT_SETUP_S = 50.0  # create, migrate and seed the database, start the gateway, verify
STREAM_RUN_S = 75.0  # stream.py at one stream count, set-up and warm-up included


# --- builds ----------------------------------------------------------------------------------
def git(*args: str, cwd: Path = BASE_DIR) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout.strip()


def prepare_build(spec: str, role: str, root: Path) -> Path:
    """The worktree of ``spec`` (a path, or a commit checked out under ``root``), set up."""
    path = Path(spec)
    if not (path.is_dir() and (path / "manage.py").exists()):
        sha = git("rev-parse", "--verify", f"{spec}^{{commit}}")
        path = root / f"{role}-{sha[:7]}"
        if not path.exists():
            root.mkdir(parents=True, exist_ok=True)
            log(f"{role}: git worktree add {path} {sha[:7]}")
            git("worktree", "add", "--detach", str(path), sha)
        elif git("rev-parse", "HEAD", cwd=path) != sha:
            raise SystemExit(f"{path} exists but is not at {sha[:7]}; remove it or pass a path")
    log(f"{role}: bin/setup in {path}")
    subprocess.run(["bin/setup"], cwd=path, check=True, capture_output=True)
    return path.resolve()


def line_counts(build: Path) -> dict[str, int]:
    """Lines of the product code (.py, migrations excluded), bench/ and tests/ (.py)."""
    files = git("ls-files", cwd=build).splitlines()
    counts = {"product": 0, "bench": 0, "tests": 0}
    for name in files:
        if not name.endswith(".py"):
            continue
        top = name.split("/", 1)[0]
        if top in PRODUCT_DIRS and "/migrations/" not in name:
            key = "product"
        elif top in ("bench", "tests"):
            key = top
        else:
            continue
        with open(build / name, "rb") as fh:
            counts[key] += sum(1 for _ in fh)
    return counts


# --- running ---------------------------------------------------------------------------------
def run_bench(script: str, build: Path, db: str, out: Path, options: list[str]) -> dict[str, Any]:
    """One run of bench/<script> against ``build``; its JSON (the report goes to out .txt)."""
    cmd = [PYTHON, str(BASE_DIR / "bench" / script), "--build", str(build), "--db", db]
    cmd += ["--json", str(out.with_suffix(".json")), *options]
    t0 = time.monotonic()
    with open(out.with_suffix(".txt"), "w") as fh:
        res = subprocess.run(cmd, cwd=BASE_DIR, stdout=fh, stderr=subprocess.STDOUT, check=False)
    log(f"{out.name}: exit {res.returncode} in {time.monotonic() - t0:.0f} s")
    if not out.with_suffix(".json").exists():
        raise SystemExit(f"{script} on {build} failed; see {out.with_suffix('.txt')}")
    data = json.loads(out.with_suffix(".json").read_text())
    data["exit"] = res.returncode
    return data


def estimate_s(args: argparse.Namespace) -> float:
    per_conc = 2 * (args.duration + 2.5)  # direct + gateway phase, drain and counters
    chat = CHAT_SETUP_S + args.warmup + per_conc * len(args.concurrency)
    stream = STREAM_RUN_S * len(args.streams) if args.streams else 0.0
    return 2 * args.runs * (chat + stream)


# --- the table -------------------------------------------------------------------------------
def chat_metrics(data: dict[str, Any]) -> dict[str, float]:
    phases = [Phase(**p) for p in data["phases"]]
    direct = {p.concurrency: p for p in phases if p.target == "direct"}
    gateway = {p.concurrency: p for p in phases if p.target == "gateway" and p.billed}
    m: dict[str, float] = {}
    for c, p in gateway.items():
        gw, pg, aux = p.stack_cpu()
        m[f"CPU ms per billed request, c={c} (gateway + PostgreSQL)"] = (
            (gw + pg + aux) / p.billed * 1e3
        )
        m[f"  of which gunicorn, c={c}"] = gw / p.billed * 1e3
        statements = p.pg_stats.get("statements", 0)
        m[f"SQL statements per billed request, c={c}"] = statements / p.billed
        m[f"machine busy % (other load included), c={c}"] = p.machine_pct()
    if 50 in gateway:
        p = gateway[50]
        m["billed req/s, c=50"] = p.billed / float(p.load.get("seconds") or 1)
    if 1 in gateway and 1 in direct:
        for pct in ("p50", "p95"):
            m[f"overhead {pct} ms, c=1"] = gateway[1].lat(pct) - direct[1].lat(pct)
    last = max(gateway) if gateway else None
    if last is not None:
        m[f"gateway RSS MB after c={last} (master + workers)"] = (
            sum(gateway[last].rss.values()) / 2**20
        )
    m["chat checks OK (1 = yes)"] = float(bool(data["verify"].get("ok")))
    return m


def stream_metrics(data: dict[str, Any]) -> dict[str, float]:
    phases = [StreamPhase(**p) for p in data["phases"]]
    direct = {p.streams: p for p in phases if p.target == "direct"}
    gateway = {p.streams: p for p in phases if p.target == "gateway"}
    m: dict[str, float] = {}
    for n, p in gateway.items():
        if n in direct:
            ovh = p.p("ttft_ms", "p95") - direct[n].p("ttft_ms", "p95")
            m[f"stream TTFT overhead p95 ms, {n} streams"] = ovh
        if p.billed:
            m[f"stream CPU ms per stream, {n} (gateway + PostgreSQL)"] = (
                sum(p.stack_cpu()) / p.billed * 1e3
            )
        m[f"gateway RSS MB at peak, {n} streams"] = p.rss_peak_total / 2**20
        m[f"stream errors, {n} streams"] = float(p.errors)
    m["stream checks OK (1 = yes)"] = float(data["exit"] == 0)
    return m


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    lo, hi = min(values), max(values)
    fmt = (lambda v: f"{v:.2f}") if max(abs(lo), abs(hi)) < 100 else (lambda v: f"{v:.0f}")
    return fmt(lo) if len(values) == 1 or fmt(lo) == fmt(hi) else f"{fmt(lo)}–{fmt(hi)}"


def table(results: dict[str, list[dict[str, float]]], lines: dict[str, dict[str, int]]) -> str:
    names: list[str] = []
    for runs in results.values():
        for run in runs:
            names += [k for k in run if k not in names]
    rows = [
        ("", f"old ({len(results['old'])} runs)", f"new ({len(results['new'])} runs)", "change")
    ]
    for name in names:
        old = [r[name] for r in results["old"] if name in r]
        new = [r[name] for r in results["new"] if name in r]
        change = ""
        if old and new and statistics.median(old):
            change = f"{(statistics.median(new) / statistics.median(old) - 1) * 100:+.0f}%"
        rows.append((name, spread(old), spread(new), change))
    for key, label in (("product", "product code"), ("bench", "bench"), ("tests", "tests")):
        o, n = lines["old"][key], lines["new"][key]
        rows.append((f"lines of {label} (.py)", str(o), str(n), f"{n - o:+d}"))
    width = [max(len(r[i]) for r in rows) for i in range(4)]
    out = []
    for i, r in enumerate(rows):
        out.append(
            f"{r[0]:<{width[0]}}  {r[1]:>{width[1]}}  {r[2]:>{width[2]}}  {r[3]:>{width[3]}}"
        )
        if i == 0:
            out.append("-" * len(out[0]))
    return "\n".join(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("old", help="commit or worktree path of the old build")
    parser.add_argument("new", help="commit or worktree path of the new build")
    parser.add_argument("--runs", type=int, default=3, help="runs of each build, alternating")
    parser.add_argument("--concurrency", default="1,50,200", help="chat.py concurrencies")
    parser.add_argument("--duration", type=float, default=10.0, help="chat.py seconds per phase")
    parser.add_argument("--warmup", type=float, default=3.0, help="chat.py warm-up seconds")
    parser.add_argument("--streams", default="500", help="stream.py stream counts ('' : none)")
    parser.add_argument("--chat-arg", action="append", default=[], help="extra chat.py option")
    parser.add_argument("--stream-arg", action="append", default=[], help="extra stream.py option")
    parser.add_argument("--old-db", default="gw_bench_old")
    parser.add_argument("--new-db", default="gw_bench")
    parser.add_argument("--worktrees", default="/work/wt", help="where commits are checked out")
    parser.add_argument("--out", default="", help="results directory (default: a new one in /tmp)")
    args = parser.parse_args(argv)
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    args.streams = [int(n) for n in args.streams.split(",") if n]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out or f"/tmp/gw-compare-{time.strftime('%Y%m%d-%H%M%S')}")
    out.mkdir(parents=True, exist_ok=True)
    est = estimate_s(args)
    log(f"results in {out}; estimated duration {est / 60:.0f} min (plus worktree set-up)")
    builds = {
        "old": prepare_build(args.old, "old", Path(args.worktrees)),
        "new": prepare_build(args.new, "new", Path(args.worktrees)),
    }
    dbs = {"old": args.old_db, "new": args.new_db}
    chat_opts = [
        *("--concurrency", ",".join(map(str, args.concurrency))),
        *("--duration", str(args.duration), "--warmup", str(args.warmup)),
        *args.chat_arg,
    ]
    stream_opts = ["--streams", ",".join(map(str, args.streams)), *args.stream_arg]
    results: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
    t0 = time.monotonic()
    for i in range(1, args.runs + 1):
        for role in ("old", "new"):
            data = run_bench(
                "chat.py", builds[role], dbs[role], out / f"chat-{role}-{i}", chat_opts
            )
            results[role].append(chat_metrics(data))
        if args.streams:
            for role in ("old", "new"):
                data = run_bench(
                    "stream.py", builds[role], dbs[role], out / f"stream-{role}-{i}", stream_opts
                )
                results[role][-1].update(stream_metrics(data))
        left = (time.monotonic() - t0) / i * (args.runs - i)
        log(f"round {i}/{args.runs} done; about {left / 60:.0f} min left")
    lines = {role: line_counts(path) for role, path in builds.items()}
    print()
    print(f"old: {builds['old']} ({git('rev-parse', '--short', 'HEAD', cwd=builds['old'])})")
    print(f"new: {builds['new']} ({git('rev-parse', '--short', 'HEAD', cwd=builds['new'])})")
    print(
        f"chat.py c={','.join(map(str, args.concurrency))}, {args.duration:g} s phases; "
        f"stream.py {','.join(map(str, args.streams)) or 'not run'}; {args.runs} run(s) each, "
        f"alternating; min–max over the runs, change = of the medians"
    )
    print()
    print(table(results, lines))
    print()
    print(f"took {(time.monotonic() - t0) / 60:.1f} min (estimated {est / 60:.0f}); raw in {out}")
    (out / "summary.json").write_text(json.dumps({"results": results, "lines": lines}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
