"""The session's last line counts the PostgreSQL-only and Redis-only tests that were skipped:
a pytest run in a subprocess on a small suite of known skips, with tests/skip_summary.py as
its only project plugin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.skip_summary import RUN_THEM

ROOT = Path(__file__).resolve().parent.parent

SUITE = """
import pytest

@pytest.mark.postgres
@pytest.mark.skipif(True, reason="needs row locking")
def test_marked_only():
    pass

@pytest.mark.skipif(True, reason="needs PostgreSQL")
@pytest.mark.parametrize("n", [1, 2, 3])
def test_reason_only(n):
    pass

def test_redis():
    pytest.skip("REDIS_URL names no Redis")

@pytest.mark.skipif(True, reason="needs Debian's chromium")
def test_other_skip():
    pass

@pytest.mark.postgres
def test_marked_and_run():
    pass

def test_plain():
    pass
"""

NOTHING_SKIPPED = """
import pytest

@pytest.mark.skipif(True, reason="needs Debian's chromium")
def test_other_skip():
    pass

def test_plain():
    pass
"""


def pytest_run(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    postgres: needs PostgreSQL\n")
    (tmp_path / "test_suite.py").write_text(source)
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(ROOT)
    plugins = ["-p", "no:django", "-p", "no:randomly", "-p", "no:cacheprovider"]
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *plugins, "-p", "tests.skip_summary", "."],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_last_lines_count_the_skipped_postgresql_and_redis_tests(tmp_path: Path) -> None:
    # given one marked skip, three parametrized skips naming PostgreSQL, one Redis skip,
    # one unrelated skip, and two tests that run
    # when the suite runs
    run = pytest_run(tmp_path, SUITE)
    # then it passes, and one line counts 4 PostgreSQL-only and 1 Redis-only skipped tests
    assert run.returncode == 0, run.stdout + run.stderr
    lines = [line for line in run.stdout.splitlines() if "SKIPPED; run them" in line]
    assert len(lines) == 1, run.stdout
    expected = f"4 PostgreSQL-only and 1 Redis-only tests were SKIPPED; run them with: {RUN_THEM}"
    assert lines[0].strip("! ") == expected
    assert "2 passed, 6 skipped" in run.stdout


def test_no_line_when_nothing_of_the_production_path_was_skipped(tmp_path: Path) -> None:
    run = pytest_run(tmp_path, NOTHING_SKIPPED)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SKIPPED; run them" not in run.stdout
    assert "1 passed, 1 skipped" in run.stdout
