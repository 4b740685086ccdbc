"""Table helpers of the printed reports of bench/chat.py and bench/stream.py."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any


class PhaseCpu:
    """For a phase dataclass with ``cpu`` (what ``procstat.Sampler.end`` returned)."""

    cpu: dict[str, Any]

    def group_cpu(self, name: str) -> float:
        return float(self.cpu["groups"].get(name, {}).get("cpu", 0.0))

    def stack_cpu(self) -> tuple[float, float, float]:
        """CPU seconds of gunicorn, the bench database's backends, PostgreSQL's shared ones."""
        return self.group_cpu("gateway"), self.group_cpu("pg"), self.group_cpu("pg_aux")

    def machine_pct(self) -> float:
        return self.cpu["machine_busy"] / (self.cpu["machine_total"] or 1) * 100

    def worker_pct(self, workers: list[int]) -> list[float]:
        """Each worker's CPU in % of one core over the phase."""
        per_pid = self.cpu["groups"]["gateway"]["per_pid"]
        wall = self.cpu["wall"] or 1
        return [per_pid.get(pid, 0.0) / wall * 100 for pid in workers]


def by_target(phases: Iterable[Any], key: str) -> tuple[dict[int, Any], dict[int, Any]]:
    """(direct, gateway) phases by ``key`` (concurrency, streams)."""
    direct = {getattr(p, key): p for p in phases if p.target == "direct"}
    gateway = {getattr(p, key): p for p in phases if p.target == "gateway"}
    return direct, gateway


def table_rows(
    keys: list[int], direct: dict[int, Any], gateway: dict[int, Any]
) -> Iterator[tuple[str, int, Any]]:
    """(target, key, phase) in table order: per key, direct then gateway, where measured."""
    for key in keys:
        for target, p in (("direct", direct.get(key)), ("gateway", gateway.get(key))):
            if p is not None:
                yield target, key, p


def head(out: list[str], line: str, rule: int = 0) -> None:
    """A table's heading and its rule (``rule`` characters longer than the heading)."""
    out.append(line)
    out.append("-" * (len(line) + rule))


def mark(met: bool) -> str:
    return "MET" if met else "NOT MET"


def check_line(name: str, ok: Any) -> str:
    return f"  {'OK  ' if ok else 'FAIL'} {name}"


def last_line(text: Any) -> str:
    return (str(text or "").strip().splitlines() or [""])[-1]
