"""CPU time and memory of processes, read from /proc (Linux only, no dependency).

A ``Sampler`` thread polls the CPU time (utime + stime) of every process in a few groups
(the gunicorn master and its workers, the PostgreSQL backends of one database, PostgreSQL's
own background processes, the fake upstream, the load generator) every ``interval`` seconds.
A phase's CPU per process is its last sample minus its value when the phase began (zero for
a process born during the phase), so a pooled DB connection that closes mid-phase still
counts up to its last sample.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class Stat:
    pid: int
    ppid: int
    comm: str
    cpu: float  # seconds, utime + stime
    start: int  # clock ticks after boot


def stat(pid: int) -> Stat | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read().decode("latin-1")
    except OSError:
        return None
    lpar, rpar = raw.find("("), raw.rfind(")")
    rest = raw[rpar + 2 :].split()
    # rest[0] is field 3 (state); utime/stime are fields 14/15, starttime 22
    return Stat(
        pid=pid,
        ppid=int(rest[1]),
        comm=raw[lpar + 1 : rpar],
        cpu=(int(rest[11]) + int(rest[12])) / TICK,
        start=int(rest[19]),
    )


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode("latin-1").strip()
    except OSError:
        return ""


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * PAGE
    except OSError:
        return 0


def all_pids() -> list[int]:
    return [int(n) for n in os.listdir("/proc") if n.isdigit()]


def children(ppid: int) -> list[int]:
    out = []
    for pid in all_pids():
        s = stat(pid)
        if s is not None and s.ppid == ppid:
            out.append(pid)
    return out


def machine_cpu() -> tuple[float, float]:
    """(busy seconds, total seconds) summed over all cores since boot."""
    with open("/proc/stat") as fh:
        parts = fh.readline().split()[1:]
    values = [int(v) for v in parts[:8]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / TICK, sum(values) / TICK


_CLIENT = re.compile(r"^(?:\S+\(\d+\)|\[local\])$")


def postgres_pids(dbname: str) -> tuple[list[int], list[int]]:
    """(backends connected to ``dbname``, PostgreSQL's shared processes: the postmaster,
    checkpointer, walwriter, background writer, autovacuum launcher, ...). Backends of other
    databases are left out. Process titles look like ``postgres: [cluster: ]user db
    host(port) state`` and ``postgres: [cluster: ]autovacuum worker db``."""
    backends, aux = [], []
    for pid in all_pids():
        s = stat(pid)
        if s is None or s.comm not in ("postgres", "postmaster"):
            continue
        words = cmdline(pid).split()
        if not words or words[0] != "postgres:":
            aux.append(pid)  # the postmaster: it forks the backends
            continue
        client = next((i for i, w in enumerate(words) if _CLIENT.match(w)), None)
        if client is not None:
            if client >= 2 and words[client - 1] == dbname:
                backends.append(pid)
            continue
        if "autovacuum" in words and "worker" in words:
            if words[-1] == dbname:
                backends.append(pid)
            continue
        aux.append(pid)
    return backends, aux


def backends_cpu(dbname: str) -> float:
    """CPU seconds (utime + stime) of the backends connected to ``dbname`` so far."""
    stats = (stat(pid) for pid in postgres_pids(dbname)[0])
    return sum(s.cpu for s in stats if s is not None)


@dataclass
class Group:
    name: str
    find: Callable[[], list[int]]
    base: dict[int, float] = field(default_factory=dict)
    last: dict[int, float] = field(default_factory=dict)
    born_after: int = 0


class Sampler:
    """Poll CPU time of process groups in a background thread between begin() and end()."""

    def __init__(
        self,
        groups: list[Group],
        interval: float = 0.25,
        extra: Callable[[], None] | None = None,
    ) -> None:
        self.groups = {g.name: g for g in groups}
        self.extra = extra  # also called on every tick (e.g. to sample pg_stat_activity)
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._machine0 = (0.0, 0.0)
        self._machine1 = (0.0, 0.0)
        self._t0 = 0.0
        self._t1 = 0.0

    def _sample(self, *, first: bool) -> None:
        with self._lock:
            for group in self.groups.values():
                for pid in group.find():
                    s = stat(pid)
                    if s is None:
                        continue
                    if first:
                        group.base[pid] = s.cpu
                    elif pid not in group.base:
                        # born during the phase (or first seen now): count all its time
                        group.base[pid] = 0.0 if s.start >= group.born_after else s.cpu
                    group.last[pid] = s.cpu

    def begin(self) -> None:
        boot_ticks = _uptime_ticks()
        for group in self.groups.values():
            group.base.clear()
            group.last.clear()
            group.born_after = boot_ticks
        self._sample(first=True)
        self._machine0 = machine_cpu()
        self._t0 = time.monotonic()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample(first=False)
            if self.extra is not None:
                self.extra()

    def end(self) -> dict[str, object]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample(first=False)
        self._machine1 = machine_cpu()
        self._t1 = time.monotonic()
        groups: dict[str, dict[str, object]] = {}
        for name, group in self.groups.items():
            per_pid = {
                pid: max(0.0, group.last.get(pid, base) - base) for pid, base in group.base.items()
            }
            groups[name] = {"cpu": sum(per_pid.values()), "per_pid": per_pid}
        busy = self._machine1[0] - self._machine0[0]
        total = self._machine1[1] - self._machine0[1]
        return {
            "wall": self._t1 - self._t0,
            "groups": groups,
            "machine_busy": busy,
            "machine_total": total,
        }


def _uptime_ticks() -> int:
    with open("/proc/uptime") as fh:
        return int(float(fh.read().split()[0]) * TICK)
