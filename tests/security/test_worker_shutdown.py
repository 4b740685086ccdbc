"""The Procfile's Celery worker and beat stop cleanly on SIGTERM, within honcho's 5 s
(``./run``'s Ctrl-C sends SIGTERM to every process group, then SIGKILL after 5 s). The
worker used to take 7.5 s idle, so honcho killed it. Run on the embedded filesystem broker,
in a temporary folder."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
HONCHO_KILL_WAIT = 5.0


def procfile_line(name: str) -> str:
    text = (BASE_DIR / "Procfile").read_text()
    return re.search(rf"^{name}: (.+)$", text, re.MULTILINE).group(1)


@pytest.fixture
def worker_env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "CELERY_")) and k not in ("REDIS_URL", "DATABASE_URL")
    }
    (tmp_path / "broker").mkdir()
    env.update(
        DJANGO_SETTINGS_MODULE="tests.security.worker_settings",
        DJANGO_SECRET_KEY="worker-test-key",
        GATEWAY_TEST_BROKER_DIR=str(tmp_path / "broker"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        PATH=f"{Path(sys.executable).parent}:{env['PATH']}",
        PYTHONPATH=str(BASE_DIR),
    )
    return env


@contextmanager
def started(command: str, env: dict[str, str], log: Path, ready: str) -> Iterator[int]:
    """``command`` through ``sh -c`` in its own process group, as honcho starts it; its
    pid once ``ready`` is in its output."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            shell=True,  # the Procfile's own line
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while ready not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> tuple[int, float]:
    """Signal the process group, as honcho does; the exit code and how long it took."""
    start = time.monotonic()
    os.killpg(proc.pid, sig)
    try:
        code = proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        code = -999
    return code, time.monotonic() - start


def test_an_idle_worker_stops_at_once_on_sigterm(worker_env: dict[str, str], tmp_path: Path):
    # given the Procfile's worker on the embedded broker, idle
    log = tmp_path / "worker.log"
    with started(procfile_line("worker"), worker_env, log, " ready.") as proc:
        time.sleep(2.5)  # a poll or two into its loop
        # when it gets SIGTERM
        code, seconds = stop(proc)
    # then it exits 0, well within honcho's wait, with no error
    assert code == 0, log.read_text()
    assert seconds < HONCHO_KILL_WAIT - 1.5, seconds
    assert "ERROR" not in log.read_text()


def test_a_busy_worker_finishes_its_task_first(worker_env: dict[str, str], tmp_path: Path):
    # given the worker running a 3-second task
    log = tmp_path / "worker.log"
    command = procfile_line("worker") + " -I tests.security.slow_tasks"
    with started(command, worker_env, log, " ready.") as proc:
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import django; django.setup()\n"
                "from tests.security.slow_tasks import slow_write\n"
                f"slow_write.delay({str(tmp_path)!r}, 3.0)",
            ],
            cwd=BASE_DIR,
            env=worker_env,
            check=True,
            timeout=60,
        )
        deadline = time.monotonic() + 30
        while not (tmp_path / "started").exists():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        # when it gets SIGTERM mid-task
        code, seconds = stop(proc)
    # then the task completes and the worker exits 0 right after
    assert (tmp_path / "done").read_text() == "done"
    assert code == 0, log.read_text()
    assert 2.0 < seconds < 10.0, seconds


def test_beat_stops_on_sigterm(worker_env: dict[str, str], tmp_path: Path):
    log = tmp_path / "beat.log"
    with started(procfile_line("beat"), worker_env, log, "beat: Starting") as proc:
        time.sleep(1.0)
        code, seconds = stop(proc)
    assert code == 0, log.read_text()
    assert seconds < HONCHO_KILL_WAIT - 1.5, seconds


def test_honcho_stops_worker_and_beat_without_sigkill(worker_env: dict[str, str], tmp_path: Path):
    # given ./run's process manager running the Procfile's worker and beat
    log = tmp_path / "honcho.log"
    honcho = f"exec {Path(sys.executable).parent / 'honcho'} -f Procfile start worker beat"
    with started(honcho, worker_env, log, " ready.") as proc:
        time.sleep(2.5)
        # when Ctrl-C reaches it (honcho then sends SIGTERM to each process group)
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
        seconds = time.monotonic() - start
    # then both stop by themselves, with exit code 0, before honcho would SIGKILL them
    out = log.read_text()
    assert "SIGKILL" not in out, out
    assert re.search(r"worker\.1 stopped \(rc=0\)", out), out
    assert re.search(r"beat\.1 stopped \(rc=0\)", out), out
    assert seconds < HONCHO_KILL_WAIT, seconds
