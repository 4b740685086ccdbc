"""What bench/chat.py and bench/stream.py share: the processes they start and stop (the fake
upstream, gunicorn), the build they measure (``--build``: a worktree with its own venv; default
this tree), and the run's start and clean-up (signals, logs, the database). The database half
is bench/benchdb.py, the options both take bench/options.py.

Only 127.0.0.1 is used; everything started is in a new session, so a stop takes its children.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psycopg

from bench import procstat, pyspy
from bench.benchdb import BenchDatabase
from bench.common import (
    BASE_DIR,
    BENCH_DIR,
    NO_PROXY_OPENER,
    PYTHON,
    UPSTREAM_KEY_ENV,
    bench_json,
    free_port,
    last_json_line,
    log,
    run_tool,
)

__all__ = [
    "BASE_DIR",
    "BENCH_DIR",
    "NO_PROXY_OPENER",
    "PYTHON",
    "Harness",
    "bench_json",
    "last_json_line",
    "log",
    "run_main",
    "run_tool",
]


class Harness(BenchDatabase):
    """One benchmark run: its processes, its database and its temporary log directory."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="gw-bench-"))
        self.db = args.db
        self.pg_url = args.pg_url.rstrip("/")
        self.database_url = f"{self.pg_url}/{self.db}"
        # the build measured: its code, its venv, its gunicorn.conf.py and its bench/seed.py;
        # the load, the fake, the samplers and the report are this tree's
        self.build = Path(args.build).resolve() if args.build else BASE_DIR
        venv = self.build / ".venv" / "bin"
        self.build_bin = venv if (venv / "python").exists() else Path(PYTHON).parent
        if not (self.build / "manage.py").exists():
            raise SystemExit(f"--build {self.build}: no manage.py there")
        self.upstream_port = args.upstream_port or free_port()
        self.gateway_port = args.port or free_port()
        self.keys: list[str] = []
        self.keys_file = self.tmp / "keys.txt"
        self.own_queries = 0  # statements this script ran on the bench database
        self.conn: psycopg.Connection[Any] | None = None
        self.conn_pid = 0
        self.master: subprocess.Popen[bytes] | None = None
        self.fake: subprocess.Popen[bytes] | None = None
        self.pyspy = pyspy.available() if args.py_spy else None
        if args.py_spy and not self.pyspy:
            raise SystemExit("--py-spy: py-spy is not installed (.venv/bin/pip install py-spy)")

    def url(self, target: str, path: str = "/v1/chat/completions") -> str:
        port = self.gateway_port if target == "gateway" else self.upstream_port
        return f"http://127.0.0.1:{port}{path}"

    # --- processes ------------------------------------------------------------------------
    def django_env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DJANGO_", "DB_", "GUNICORN_", "GATEWAY_"))
        }
        env.update(
            DATABASE_URL=self.database_url,
            DJANGO_SETTINGS_MODULE=self.args.settings,
            DJANGO_SECRET_KEY="bench-secret-key-not-for-production-0123456789abcdef",
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            DJANGO_DEBUG="false",
            DJANGO_SECURE_SSL_REDIRECT="false",  # plain HTTP on 127.0.0.1
            REDIS_URL="",
            CELERY_BROKER_URL="memory://",
            LOG_LEVEL="WARNING",
            PYTHONPATH=str(self.build),
        )
        env[UPSTREAM_KEY_ENV] = "bench-upstream-key"
        for item in self.args.env:
            name, _, value = item.partition("=")
            env[name] = value
        return env

    def spawn(
        self, name: str, cmd: list[str], env: dict[str, str], cwd: Path = BASE_DIR
    ) -> subprocess.Popen[bytes]:
        out = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        out.close()
        self.procs.append((name, proc))
        return proc

    def stop_all(self) -> None:
        for name, proc in reversed(self.procs):
            if proc.poll() is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop on SIGTERM; killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        self.procs.clear()

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.tmp / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def run_django(self, *args: str, timeout: float = 300) -> str:
        res = subprocess.run(
            [str(self.build_bin / "python"), *args],
            cwd=self.build,
            env=self.django_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{res.stdout}\n{res.stderr}")
        return res.stdout

    def wait_http(
        self, url: str, name: str, proc: subprocess.Popen[bytes], *, method: str = "GET"
    ) -> None:
        deadline = time.monotonic() + 60
        data = b'{"model":"echo","messages":[{"role":"user","content":"hi"}]}'
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited ({proc.returncode}):\n{self.tail(name)}")
            req = urllib.request.Request(
                url,
                data=data if method == "POST" else None,
                method=method,
                headers={"Content-Type": "application/json"},
            )
            try:
                with NO_PROXY_OPENER.open(req, timeout=5) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{name} did not answer at {url}:\n{self.tail(name)}")

    def start_fake(self, options: list[str], description: str) -> None:
        """bench/fake_upstream.py on the upstream port with these options."""
        cmd = [PYTHON, "-m", "bench.fake_upstream", "--port", str(self.upstream_port), *options]
        self.fake = self.spawn("upstream", cmd, {**os.environ, "PYTHONPATH": str(BASE_DIR)})
        self.wait_http(self.url("direct"), "upstream", self.fake, method="POST")
        log(f"fake upstream on 127.0.0.1:{self.upstream_port} ({description})")

    def start_gateway(self) -> None:
        env = self.django_env()
        env.update(
            HOST="127.0.0.1",
            PORT=str(self.gateway_port),
            WEB_CONCURRENCY=str(self.args.workers),
            BENCH_GUNICORN_CONF=str(self.build / "gunicorn.conf.py"),
            BENCH_SQLCOUNT_DIR=str(self.tmp),
        )
        # the build's gunicorn.conf.py, unchanged, plus the count of the SQL sent
        cmd = [str(self.build_bin / "gunicorn"), "-c", str(BENCH_DIR / "gunicorn_sqlcount.py")]
        cmd += self.args.gunicorn_arg
        self.master = self.spawn("gunicorn", cmd, env, cwd=self.build)
        self.wait_http(self.url("gateway", "/v1/models"), "gunicorn", self.master)
        deadline = time.monotonic() + 30
        while len(self.workers()) < self.args.workers and time.monotonic() < deadline:
            time.sleep(0.2)
        log(
            f"gateway on 127.0.0.1:{self.gateway_port}: master {self.master.pid}, "
            f"workers {self.workers()} ({self.args.settings}; build {self.build})"
        )

    def workers(self) -> list[int]:
        return sorted(procstat.children(self.master.pid)) if self.master else []

    def gateway_groups(self) -> list[procstat.Group]:
        """What the CPU sampler counts: gunicorn, the bench database's backends (less this
        script's connection), PostgreSQL's shared processes, the fake."""
        master = self.master.pid if self.master else 0

        def gateway() -> list[int]:
            return [master, *procstat.children(master)]

        return [
            procstat.Group("gateway", gateway),
            procstat.Group(
                "pg", lambda: [p for p in procstat.postgres_pids(self.db)[0] if p != self.conn_pid]
            ),
            procstat.Group("pg_aux", lambda: procstat.postgres_pids(self.db)[1]),
            procstat.Group("upstream", lambda: [self.fake.pid] if self.fake else []),
        ]

    # --- results --------------------------------------------------------------------------
    def write_json(self, phases: list[Any], verify: dict[str, Any], **extra: Any) -> None:
        """With --json: the options, every phase and the checks, raw."""
        if not self.args.json:
            return
        Path(self.args.json).write_text(
            json.dumps(
                {
                    "args": vars(self.args),
                    "phases": [p.__dict__ for p in phases],
                    "verify": verify,
                    **extra,
                },
                default=str,
                indent=2,
            )
        )


def run_main(bench: Harness) -> int:
    """``bench.run()``, then stop everything it started, drop the database (unless
    --keep-db) and remove the logs (unless --keep-logs or the run failed), also on Ctrl-C,
    SIGTERM and errors."""
    args = bench.args

    def on_term(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)  # also when started in the background (SIG_IGN)
    code = 1
    try:
        code = bench.run()  # type: ignore[attr-defined]
    except KeyboardInterrupt:
        log("interrupted; stopping")
        code = 130
    except Exception as exc:
        log(f"failed: {exc}")
        if bench.master is not None:
            log("gunicorn log tail:\n" + bench.tail("gunicorn"))
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with contextlib.suppress(Exception):
            bench.disconnect()
        bench.stop_all()
        if not args.keep_db:
            with contextlib.suppress(Exception):
                bench.drop_db()
        if args.keep_logs or code != 0:
            log(f"logs kept in {bench.tmp}")
        else:
            shutil.rmtree(bench.tmp, ignore_errors=True)
    return code
