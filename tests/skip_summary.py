"""The session's last line when the production path was skipped: how many PostgreSQL-only
(and Redis-only) tests did not run, and the command that runs them.

A test counts as PostgreSQL-only when it carries the ``postgres`` marker or its skip reason
names PostgreSQL (``skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")``);
as Redis-only when its skip reason names REDIS_URL. tests/conftest.py imports the hook."""

from __future__ import annotations

from typing import Any

# The same databases .ci/run uses (create the ``gateway`` database first, as it does).
RUN_THEM = (
    "DATABASE_URL=postgres://postgres@127.0.0.1:5432/gateway "
    "REDIS_URL=redis://127.0.0.1:6379/15 ./test -p no:randomly"
)


def skip_reason(report: Any) -> str:
    """The reason of a skipped test's report ("" when pytest recorded none)."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr or "")


def skipped_counts(skipped: list[Any]) -> tuple[int, int]:
    """(PostgreSQL-only, Redis-only) tests among these skipped reports, each test once."""
    postgres: set[str] = set()
    redis: set[str] = set()
    for report in skipped:
        reason = skip_reason(report)
        if "postgres" in report.keywords or "PostgreSQL" in reason:
            postgres.add(report.nodeid)
        elif "REDIS_URL" in reason:
            redis.add(report.nodeid)
    return len(postgres), len(redis - postgres)


def summary_line(postgres: int, redis: int) -> str:
    parts = [f"{postgres} PostgreSQL-only"] if postgres else []
    parts += [f"{redis} Redis-only"] if redis else []
    noun = "test was" if postgres + redis == 1 else "tests were"
    return f"{' and '.join(parts)} {noun} SKIPPED; run them with: {RUN_THEM}"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    postgres, redis = skipped_counts(terminalreporter.stats.get("skipped", []))
    if postgres or redis:
        terminalreporter.write_sep("!", summary_line(postgres, redis), yellow=True, bold=True)
