"""What every part of the benchmark uses: paths, the run's log lines, free ports, the JSON
lines the helpers print, and running a helper to its end."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
PYTHON = sys.executable
UPSTREAM_KEY_ENV = "BENCH_UPSTREAM_KEY"

NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def bench_json(output: str) -> dict[str, Any]:
    """The ``BENCH_JSON {...}`` line a bench helper printed."""
    for line in output.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line[len("BENCH_JSON ") :])
    raise RuntimeError(f"no BENCH_JSON line in:\n{output}")


def run_tool(cmd: list[str], env: dict[str, str], timeout: float, what: str) -> str:
    """Run a load generator to the end; its stdout."""
    res = subprocess.run(
        cmd, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if res.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{res.stdout}\n{res.stderr}")
    return res.stdout


def last_json_line(output: str) -> dict[str, Any]:
    return json.loads(output.strip().splitlines()[-1])
