"""One phase of bench/chat.py (a load at one concurrency, direct or through the gateway) and
the report it prints."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from typing import Any

from bench.report import PhaseCpu, by_target, check_line, head, last_line, mark, table_rows

TARGET_CPU_MS = 4.0
TARGET_RPS_C50 = 250.0
TARGET_OVERHEAD_P50_C1 = 5.0


@dataclass
class Phase(PhaseCpu):
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


def report(args: argparse.Namespace, tool: str, phases: list[Phase], verify: dict[str, Any]) -> str:
    direct, gateway = by_target(phases, "concurrency")
    billed = [(c, gateway[c]) for c in args.concurrency if c in gateway and gateway[c].billed]
    out: list[str] = []
    extra = " ".join([*args.env, *args.gunicorn_arg])
    out.append("")
    out.append(
        f"POST /v1/chat/completions, fake upstream delay {args.delay_ms:g} ms, "
        f"{args.duration:g} s per phase, {args.workers} gevent workers, "
        f"{args.users} account(s), max_tokens "
        f"{'omitted' if args.omit_max_tokens else 'sent'}, load generator {tool}, "
        f"{os.cpu_count()} cores" + (f"; {extra}" if extra else "")
    )
    out.append("")
    head(
        out,
        f"{'target':8}{'conc':>5}{'ok':>8}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'p99 ms':>9}{'errors':>8}{'ovh p50':>9}{'ovh p95':>9}",
    )
    for target, c, p in table_rows(args.concurrency, direct, gateway):
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
    head(
        out,
        f"{'conc':>5}{'billed':>8}{'gunicorn':>10}{'pg backends':>13}{'pg shared':>11}"
        f"{'TOTAL':>8}{'fake':>7}{'loadgen':>9}{'machine':>9}  {'worker CPU split':<20}"
        f"{'RSS MB master/workers':<23}",
    )
    for c, p in billed:
        n = p.billed
        gw, pg, aux = p.stack_cpu()
        total = gw + pg + aux
        split = " / ".join(f"{pct:.0f}%" for pct in p.worker_pct(p.workers))
        rss = [v / 2**20 for v in p.rss.values()]
        rss_txt = f"{rss[0]:.0f} / " + " ".join(f"{v:.0f}" for v in rss[1:]) if rss else ""
        out.append(
            f"{c:>5}{n:>8}{gw / n * 1e3:>10.2f}{pg / n * 1e3:>13.2f}{aux / n * 1e3:>11.2f}"
            f"{total / n * 1e3:>8.2f}{p.group_cpu('upstream') / n * 1e3:>7.2f}"
            f"{p.loadgen_cpu / n * 1e3:>9.2f}{p.machine_pct():>8.0f}%  {split:<20}{rss_txt:<23}"
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
    head(
        out,
        f"{'conc':>5}{'stmts':>7}{'xacts':>7}{'commits':>9}{'rollbk':>8}{'ins':>6}{'upd':>6}"
        f"{'del':>6}{'new conns':>10}{'conns':>7}  mean backends: state",
        rule=30,
    )
    for c, p in billed:
        n, st = p.billed, p.pg_stats
        waits = ", ".join(f"{v:.1f} {k}" for k, v in p.waits.items() if v >= 0.05)
        out.append(
            f"{c:>5}{st.get('statements', 0) / n:>7.2f}{st.get('transactions', 0) / n:>7.2f}"
            f"{st.get('commits', 0) / n:>9.2f}{st.get('rollbacks', 0) / n:>8.2f}"
            f"{st.get('inserted', 0) / n:>6.1f}{st.get('updated', 0) / n:>6.1f}"
            f"{st.get('deleted', 0) / n:>6.1f}{st.get('sessions', 0):>10}{p.db_backends:>7}"
            f"  {waits}"
        )
    out.append(
        "  stmts, xacts = SQL statements and transactions the gateway's workers sent (counted "
        "in the workers: exact); commits ... del = pg_stat_database"
    )
    out.append(
        "  (backends publish it up to 10 s late once idle: low at c=1); new conns = "
        "connections opened in the phase; conns = open after it."
    )
    for c, p in billed:
        kinds = sorted(
            ((k[5:], v) for k, v in p.pg_stats.items() if k.startswith("sql: ") and v),
            key=lambda kv: -kv[1],
        )
        if kinds:
            out.append(f"  c={c}: statements by kind, per billed request (and in the phase):")
            out.extend(f"    {v / p.billed:7.3f} {v:>7}  {k}" for k, v in kinds)
    for c in args.concurrency:
        p = gateway.get(c)
        if p is not None and p.profile:
            out.append("")
            out.append(f"py-spy, gunicorn workers at c={c} (share of samples):")
            out.append(p.profile)
    out.append("")
    out.append("Targets:")
    out.extend(targets(direct, gateway, billed))
    out.append("")
    out.append("Consistency after the run:")
    for name, ok in (verify.get("checks") or {}).items():
        out.append(check_line(name, ok))
    vl = verify.get("verify_ledger")
    if vl is None:
        out.append("  verify_ledger: not available (used billing.selectors.ledger_breaches)")
    else:
        first = last_line(vl.get("output"))
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


def targets(
    direct: dict[int, Phase], gateway: dict[int, Phase], billed: list[tuple[int, Phase]]
) -> list[str]:
    out: list[str] = []
    c50, c1 = gateway.get(50), gateway.get(1)
    for c, p in billed:
        total = sum(p.stack_cpu()) / p.billed
        out.append(
            f"  CPU per billed request at c={c:<4} {total * 1e3:7.2f} ms  "
            f"(target <= {TARGET_CPU_MS:g} ms)  {mark(total * 1e3 <= TARGET_CPU_MS)}"
        )
    if c50 is not None:
        rate = c50.billed / (float(c50.load.get("seconds") or 1))
        out.append(
            f"  billed req/s at c=50          {rate:7.1f}     "
            f"(target >= {TARGET_RPS_C50:g})     {mark(rate >= TARGET_RPS_C50)}"
        )
    if c1 is not None and 1 in direct:
        ovh = c1.lat("p50") - direct[1].lat("p50")
        out.append(
            f"  overhead p50 at c=1           {ovh:7.2f} ms  "
            f"(target < {TARGET_OVERHEAD_P50_C1:g} ms)     {mark(ovh < TARGET_OVERHEAD_P50_C1)}"
        )
    return out
