"""Real servers for the security tests: gunicorn as production starts it (gunicorn.conf.py,
gevent workers) on the test database, and a sandbox (free, local) model to call."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from django.db import connection

BASE_DIR = Path(__file__).resolve().parents[2]
GUNICORN = str(Path(sys.executable).parent / "gunicorn")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_database_url() -> str:
    """The URL of the database pytest-django created (``test_…``), for a child process."""
    name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{name}"
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + name))


@contextmanager
def gunicorn_running(**env_overrides: str) -> Iterator[str]:
    """gunicorn with one gevent worker on 127.0.0.1 and the test database; its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GUNICORN_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=test_database_url(),
        HOST="127.0.0.1",
        PORT=str(port),
        WEB_CONCURRENCY="1",
        LOG_LEVEL="WARNING",
        **env_overrides,
    )
    # A file, not a pipe: a full pipe would stall the server.
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [GUNICORN, "-c", "gunicorn.conf.py"],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(base + "/v1/models", timeout=2)
                    break
                except urllib.error.HTTPError:
                    break  # it answers
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        log.seek(0)
                        raise RuntimeError(log.read().decode(errors="replace")) from None
                    time.sleep(0.1)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


SANDBOX_CATALOG = {
    "providers": [{"slug": "sandbox", "name": "Sandbox", "dialect": "sandbox"}],
    "models": [
        {
            "id": "sandbox/echo",
            "name": "Sandbox Echo",
            "aliases": ["sandbox"],
            "context_length": 32768,
            "max_output_tokens": 4096,
            "pricing": {"prompt": "0", "completion": "0", "request": "0"},
            "routes": [{"provider": "sandbox", "upstream_model": "echo", "priority": 10}],
        }
    ],
}
