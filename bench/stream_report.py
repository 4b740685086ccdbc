"""One phase of bench/stream.py (N streams at once, direct or through the gateway) and the
report it prints."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from typing import Any

from bench.report import PhaseCpu, by_target, check_line, head, last_line, mark, table_rows

TARGET_TTFT_OVERHEAD_P95_MS = 100.0  # at 500 streams
TARGET_FIRST_RELAY_MS = 50.0  # first content chunk, fake -> client (p95)
TARGET_TTFT_AT = 500


def percentile(sorted_values: list[float], p: float) -> float:
    """As bench/loadgen.py computes it (not imported: that module monkey-patches)."""
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


@dataclass
class StreamPhase(PhaseCpu):
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

    @property
    def complete(self) -> int:
        return int(self.load["complete"])

    @property
    def errors(self) -> int:
        return self.streams - self.complete

    def p(self, metric: str, pct: str) -> float:
        return float(self.load[metric][pct])


def report(
    args: argparse.Namespace,
    phases: list[StreamPhase],
    completed_gateway: int,
    verify: dict[str, Any],
    checks: dict[str, bool],
    nofile: tuple[int, int],
    somaxconn: str,
) -> str:
    direct, gateway = by_target(phases, "streams")
    a = args
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
    head(
        out,
        f"{'target':8}{'streams':>8}{'complete':>9}{'errors':>7}{'secs':>7}{'open':>6}"
        f"{'strm':>6}{'TTFT p50':>9}{'p95':>8}{'p99':>8}{'max':>8}{'ovh p50':>9}{'ovh p95':>9}",
    )
    for target, n, p in table_rows(a.streams, direct, gateway):
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
    head(
        out,
        f"{'target':8}{'streams':>8}{'connect':>16}{'first byte':>16}{'TTFT':>16}{'duration':>16}",
    )
    for target, n, p in table_rows(a.streams, direct, gateway):
        cells = "".join(
            f"{p.p(m, 'p50'):>8.1f} /{p.p(m, 'p95'):>6.1f}"
            for m in ("connect_ms", "first_byte_ms", "ttft_ms", "duration_ms")
        )
        out.append(f"{target:8}{n:>8}{cells}")
    out.append("")
    out.append("Relay latency of a chunk: client receive time minus the fake's send stamp, ms:")
    head(
        out,
        f"{'target':8}{'streams':>8}{'first p50':>10}{'p95':>8}{'max':>8}"
        f"{'all p50':>10}{'p95':>8}{'max':>8}{'keep-alives':>13}",
    )
    for target, n, p in table_rows(a.streams, direct, gateway):
        out.append(
            f"{target:8}{n:>8}{p.p('relay_first_ms', 'p50'):>10.1f}"
            f"{p.p('relay_first_ms', 'p95'):>8.1f}{p.p('relay_first_ms', 'max'):>8.1f}"
            f"{p.p('relay_all_ms', 'p50'):>10.1f}{p.p('relay_all_ms', 'p95'):>8.1f}"
            f"{p.p('relay_all_ms', 'max'):>8.1f}{p.load['keepalives']:>13}"
        )
    out.append("  first = the first content chunk of each stream; all = every content chunk.")
    out.append("")
    out.append("CPU per stream (ms; /proc utime+stime), memory, database connections:")
    head(
        out,
        f"{'target':8}{'streams':>8}{'gunicorn':>9}{'pg bk':>7}{'pg sh':>7}{'TOTAL':>7}"
        f"{'fake':>6}{'client':>7}{'machine':>8}  {'workers':<10}{'RSS MB peak':>12}"
        f"{'KB/strm':>8}{'pg conns':>9}{'/bound':>7}{'acc q':>6}{'ovf':>5}",
    )
    for target, n, p in table_rows(a.streams, direct, gateway):
        count = p.billed if target == "gateway" else p.complete
        count = count or p.streams
        gw, pg, aux = p.stack_cpu()
        machine = p.machine_pct()
        ovf = sum(p.listen.values())
        if target == "direct":
            out.append(
                f"{target:8}{n:>8}{'':>9}{'':>7}{'':>7}{'':>7}"
                f"{p.group_cpu('upstream') / count * 1e3:>6.2f}"
                f"{p.client_cpu / count * 1e3:>7.2f}{machine:>7.0f}%  {'':<10}{'':>12}"
                f"{'':>8}{'':>9}{'':>7}{p.accept_peak:>6}{ovf:>5}"
            )
            continue
        split = "/".join(f"{pct:.0f}%" for pct in p.worker_pct(p.workers))
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
    measured = [(n, gateway[n]) for n in a.streams if n in gateway]
    for n, p in measured:
        if p.rss_peak:
            parts = " / ".join(f"{v / 2**20:.0f}" for v in p.rss_peak.values())
            base = " / ".join(f"{v / 2**20:.0f}" for v in p.rss_base.values())
            out.append(
                f"  n={n}: RSS MB master / workers at peak {parts} (idle before {base}); "
                f"upstream connections opened {p.upstream_conns} for {n} streams; "
                f"pg conns at peak {p.pg_peak} ({p.pg_peak_active} not idle), open after "
                f"{p.pg_after}; PostgreSQL per stream: "
                f"{p.pg_stats.get('statements', 0) / max(1, p.billed):.2f} statements and "
                f"{p.pg_stats.get('transactions', 0) / max(1, p.billed):.2f} transactions "
                "sent by the workers, "
                f"{p.pg_stats.get('commits', 0) / max(1, p.billed):.2f} commits "
                "(pg_stat_database), "
                f"{p.pg_stats.get('sessions', 0)} new connections in the phase"
            )
    for n, p in measured:
        if p.waits:
            waits = ", ".join(f"{v:.1f} {k}" for k, v in p.waits.items() if v >= 0.05)
            out.append(f"  n={n}: bench database backends, mean by state: {waits}")
    for n, p in measured:
        if p.profile:
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
            f"{mark(ovh < TARGET_TTFT_OVERHEAD_P95_MS)}"
        )
    for n, p in measured:
        v = p.p("relay_first_ms", "p95")
        out.append(
            f"  first-chunk relay p95 at {n:<5} streams {v:7.1f} ms "
            f"(target < {TARGET_FIRST_RELAY_MS:g} ms)   "
            f"{mark(v < TARGET_FIRST_RELAY_MS)}  "
            f"(max {p.p('relay_first_ms', 'max'):.1f} ms)"
        )
    out.append("")
    out.append("Checks:")
    for name, ok in checks.items():
        out.append(check_line(name, ok))
    vl = verify.get("verify_ledger")
    if vl is not None:
        out.append(f"  verify_ledger said: {last_line(vl.get('output'))}")
    out.append(
        f"  complete streams through the gateway {completed_gateway} (warm-up "
        f"included), billed Generation rows {verify.get('billed_generations')}, failed or "
        f"cancelled rows {verify.get('failed_generations')}, open holds "
        f"{verify.get('open_holds')}, held {verify.get('held')}, usage sum "
        f"{verify.get('usage_sum')}, balance change {verify.get('balance_change')}"
    )
    for p in phases:
        if set(p.gen_status) - {"success"}:
            statuses = ", ".join(
                f"{status} {n} ({charged} charged)" for status, (n, charged) in p.gen_status.items()
            )
            out.append(f"  {p.target} n={p.streams}: Generation rows: {statuses}")
        for kind, count in (p.load.get("errors") or {}).items():
            out.append(f"  {p.target} n={p.streams}: {count} x {kind}")
        for line in p.log_problems[:10]:
            out.append(f"  gunicorn log n={p.streams}: {line[:200]}")
    for breach in verify.get("breaches") or []:
        out.append(f"  breach: {breach}")
    return "\n".join(out)
