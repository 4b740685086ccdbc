"""What bench/stream.py watches besides CPU: the kernel's limits and listen queues, and, on
every sampler tick, the gateway's RSS, the target's accept queue and the bench database's
connections (their peaks)."""

from __future__ import annotations

import contextlib
import resource
import threading
from pathlib import Path

from bench import procstat
from bench.pgactivity import BackendStates


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


class PeakSampler(BackendStates):
    """Called on every Sampler tick: connections to the bench database and what they do,
    the gateway's RSS and the target's accept queue, keeping the maxima."""

    def __init__(self, pg_url: str, db: str, own_pid: int, pids: list[int], port: int) -> None:
        super().__init__(pg_url, db, own_pid)
        self.pids = pids
        self.port = port
        self.accept_peak = 0
        self.lock = threading.Lock()
        self.pg_peak = 0
        self.pg_peak_active = 0
        self.rss_peak: dict[int, int] = {}
        self.rss_peak_total = 0

    def __call__(self) -> None:
        rss = {pid: procstat.rss_bytes(pid) for pid in self.pids}
        queued = accept_queues([self.port])[self.port]
        rows = self.rows()
        with self.lock:
            for pid, value in rss.items():
                self.rss_peak[pid] = max(self.rss_peak.get(pid, 0), value)
            self.rss_peak_total = max(self.rss_peak_total, sum(rss.values()))
            self.accept_peak = max(self.accept_peak, queued)
            if rows is None:
                return
            self.pg_peak = max(self.pg_peak, len(rows))
            self.pg_peak_active = max(self.pg_peak_active, sum(r[0] != "idle" for r in rows))
            self.count(rows)
