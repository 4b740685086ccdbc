"""Optional sampling profile of the gunicorn workers with py-spy (not a project dependency:
``.venv/bin/pip install py-spy``), summarised by step of the request path.

py-spy counts a sample when the thread is runnable, so on a machine with more runnable
processes than cores the shares include time spent waiting for a core; use the shares, and
the /proc CPU time of the benchmark for absolute numbers.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

# (category, pattern of a frame); a sample goes to the first category, in this order,
# that one of its frames matches
CATEGORIES: list[tuple[str, str]] = [
    ("auth (API key lookup)", r"^(apikey_authenticate|ApiKeyAuthentication\.authenticate) "),
    ("reserve (credits_reserve)", r"^credits_reserve "),
    ("settle (generation_settle)", r"^(generation_settle|generation_fail) "),
    ("spendable_get", r"^spendable_get "),
    ("upstream HTTP (requests)", r"^(OpenAIDialect\.complete|_post|post_json) "),
    ("catalog snapshot", r"^(_build|_current) "),
    ("body parse + validation", r"^(json_body|chat_validate|_plan) "),
    ("response building", r"^(chat_response|json_response) "),
    ("other view code", r"^ChatCompletionsView\.post "),
    ("Django + DRF around the view", r"^WSGIHandler\.__call__ "),
    ("gunicorn HTTP", r"^(GeventWorker\.handle|AsyncWorker\.handle) "),
    ("gevent hub (event loop)", r"^Hub\.run "),
]
# the same for the streaming path (bench/stream.py)
STREAM_CATEGORIES: list[tuple[str, str]] = [
    ("auth (API key lookup)", r"^(apikey_authenticate|ApiKeyAuthentication\.authenticate) "),
    ("reserve (credits_reserve)", r"^credits_reserve "),
    ("settle (_settle)", r"^(_settle|generation_settle|generation_fail) "),
    ("upstream open (HTTP)", r"^(post_json|_post|OpenAIDialect\.stream) "),
    ("upstream read (pump: sse/ChunkStream)", r"^(_Pump\._run|sse_events|_pieces) "),
    ("relay (stream_relay/encoder)", r"^(stream_relay|ChatStreamEncoder\.) "),
    ("stream_open", r"^stream_open "),
    ("Django + DRF around the view", r"^WSGIHandler\.__call__ "),
    ("gunicorn HTTP/write", r"^(GeventWorker\.handle|AsyncWorker\.handle|PyWSGIHandler) "),
    ("gevent hub (event loop)", r"^Hub\.run "),
]
PSYCOPG = re.compile(r"\(.*psycopg/")


def available() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def record(exe: str, pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    cmd = [exe, "record", "-p", str(pid), "-d", str(max(1, round(seconds))), "-r", "100"]
    return subprocess.Popen(
        [*cmd, "--nonblocking", "-f", "raw", "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _frames(stack: str) -> list[str]:
    return stack.split(";")


def summarize(files: list[Path], categories: list[tuple[str, str]] | None = None) -> str:
    categories = CATEGORIES if categories is None else categories
    by_cat: Counter[str] = Counter()
    in_pg: Counter[str] = Counter()
    total = 0
    for path in files:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            total += n
            frames = _frames(stack)
            category = "other"
            for name, pattern in categories:
                rx = re.compile(pattern)
                if any(rx.match(f) for f in frames):
                    category = name
                    break
            by_cat[category] += n
            if any(PSYCOPG.search(f) for f in frames):
                in_pg[category] += n
    if not total:
        return "  (no py-spy samples)"
    lines = [f"  {'step':34}{'share':>8}{'of which in psycopg':>22}"]
    for name, n in by_cat.most_common():
        lines.append(f"  {name:34}{n / total * 100:>7.1f}%{in_pg[name] / total * 100:>21.1f}%")
    lines.append(f"  ({total} samples)")
    return "\n".join(lines)
