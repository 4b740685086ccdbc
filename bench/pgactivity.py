"""What the bench database's PostgreSQL backends are doing, sampled from pg_stat_activity on
every tick of a ``procstat.Sampler`` (its ``extra``)."""

from __future__ import annotations

from typing import Any

import psycopg

ACTIVITY_SQL = (
    "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
    "WHERE datname = %s AND backend_type = 'client backend' AND pid <> %s"
)
DETAILED_WAITS = ("IO", "LWLock")  # waits named with their event when not every_event


class BackendStates:
    """Counts the client backends of ``db`` (but ``own_pid``) by state: running, waiting
    (``wait Lock``, ``wait IO:WALSync``...), idle in transaction..."""

    def __init__(self, pg_url: str, db: str, own_pid: int, *, every_event: bool = True) -> None:
        self.db = db
        self.own_pid = own_pid
        self.every_event = every_event
        self.conn = psycopg.connect(f"{pg_url}/postgres", autocommit=True)
        self.samples = 0
        self.states: dict[str, int] = {}

    def rows(self) -> list[tuple[Any, ...]] | None:
        try:
            return self.conn.execute(ACTIVITY_SQL, [self.db, self.own_pid]).fetchall()
        except psycopg.Error:
            return None

    def count(self, rows: list[tuple[Any, ...]]) -> None:
        self.samples += 1
        for state, wtype, wevent in rows:
            if state != "active":
                key = state or "?"
            elif not wtype:
                key = "running"
            elif self.every_event or wtype in DETAILED_WAITS:
                key = f"wait {wtype}:{wevent}"
            else:
                key = f"wait {wtype}"
            self.states[key] = self.states.get(key, 0) + 1

    def __call__(self) -> None:
        rows = self.rows()
        if rows is not None:
            self.count(rows)

    def mean_states(self) -> dict[str, float]:
        """Mean backends per state over the samples, most first."""
        n = max(1, self.samples)
        return {k: v / n for k, v in sorted(self.states.items(), key=lambda kv: -kv[1])}

    def close(self) -> None:
        self.conn.close()
