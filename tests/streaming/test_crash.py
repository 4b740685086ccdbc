"""A worker SIGKILLed mid-stream: its streams' holds are not left open and unbilled. Each
stream checkpointed what it delivered; ``manage.py holds_sweep`` charges that, writes the
request's record as ``interrupted`` and releases the rest.

The gateway runs as in production (gunicorn, one gevent worker, PostgreSQL) in a
subprocess on this test's database; the fake upstream runs in this process.
"""

from __future__ import annotations

import contextlib
import io
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from django.core.management import call_command
from django.db import connection

from bench.procstat import children
from billing.models import Hold
from billing.selectors import ledger_breaches
from gateway.models import Generation
from gateway.records.invariants import generation_ledger_breaches
from tests.factories import AccountFactory, ModelFactory
from tests.fakes.upstream import FakeUpstream
from tests.streaming.test_disconnect import stream_open_raw

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
    pytest.mark.usefixtures("transactional_db"),
]

BASE_DIR = Path(__file__).resolve().parents[2]
STREAMS = 20
START = 10_000_000
TEXT = " ".join(f"w{i}" for i in range(1, 61))  # ~15 s at 0.25 s a chunk


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def django_env(**extra: str) -> dict[str, str]:
    """This test's database and settings, for a subprocess."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    if db.get("PASSWORD"):
        url = url.replace("@", f":{db['PASSWORD']}@", 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "GATEWAY_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=url,
        PYTHONPATH=str(BASE_DIR),
        LOG_LEVEL="WARNING",
        **extra,
    )
    return env


@pytest.fixture
def gateway_url(upstream: FakeUpstream) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The gateway under gunicorn (one gevent worker) on a free port, with the fake
    upstream's key in its environment; stopped after."""
    port = free_port()
    env = django_env(HOST="127.0.0.1", PORT=str(port), WEB_CONCURRENCY="1")
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    proc = subprocess.Popen(
        [gunicorn, "-c", "gunicorn.conf.py"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, "gunicorn exited"
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(url + "/v1/models", timeout=2) as resp,
            ):
                if resp.status == 200:
                    break
            assert time.monotonic() < deadline, "gunicorn did not answer"
            time.sleep(0.2)
        yield url, proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def read_for(socks: list[socket.socket], seconds: float) -> list[bytes]:
    """Everything each socket received within ``seconds``."""
    received = [b""] * len(socks)
    sel = selectors.DefaultSelector()
    for i, sock in enumerate(socks):
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ, i)
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        for key, _ in sel.select(timeout=left):
            with contextlib.suppress(BlockingIOError):
                received[key.data] += key.fileobj.recv(65536)  # type: ignore[union-attr]
    sel.close()
    return received


def request_id_and_pieces(raw: bytes) -> tuple[str, list[str]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    request_id = next(
        line.split(b":", 1)[1].strip().decode()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"x-request-id:")
    )
    pieces = []
    for event in body.split(b"\n\n"):  # each event is one HTTP chunk: its size line before
        start = event.find(b"data: {")
        if start < 0:
            continue
        with contextlib.suppress(orjson.JSONDecodeError):
            for choice in orjson.loads(event[start + 6 :]).get("choices") or []:
                if (choice.get("delta") or {}).get("content"):
                    pieces.append(choice["delta"]["content"])
    return request_id, pieces


def test_a_sigkilled_worker_s_streams_are_charged_their_checkpoints_once(
    gateway_url: tuple[str, subprocess.Popen[bytes]],
    make_model: ModelFactory,
    make_account: AccountFactory,
    upstream: FakeUpstream,
) -> None:
    url, master = gateway_url
    # given 20 streams through one worker, each ~15 s long (a chunk every 0.25 s)
    make_model("test/slow", prompt="20", completion="55")
    account = make_account(START)
    upstream.chunk_delay = 0.25
    body = {"model": "test/slow", "messages": [{"role": "user", "content": TEXT}], "stream": True}
    socks = [stream_open_raw(url, account.secret, body) for _ in range(STREAMS)]
    try:
        # when they have delivered for ~3.5 s and the worker is SIGKILLed
        received = read_for(socks, 3.5)
        workers = children(master.pid)
        assert len(workers) == 1
        os.kill(workers[0], signal.SIGKILL)
    finally:
        for sock in socks:
            sock.close()
    streams = dict(request_id_and_pieces(raw) for raw in received)
    assert len(streams) == STREAMS
    assert all(len(pieces) >= 8 for pieces in streams.values())
    # then each left its hold open, with a checkpoint of what it delivered
    time.sleep(1.5)
    holds = {h.request_id: h for h in Hold.objects.all()}
    assert set(holds) == set(streams)
    assert all(h.checkpoint_credits > 0 for h in holds.values())
    expected = {rid: min(h.checkpoint_credits, h.amount) for rid, h in holds.items()}
    # when the sweeper runs from the command line, taking holds 1 s without a checkpoint
    out = subprocess.run(
        [sys.executable, "manage.py", "holds_sweep"],
        cwd=BASE_DIR,
        env=django_env(BILLING_HOLD_STALE_SECONDS="1"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    # then every stream was charged its checkpoint once and recorded as interrupted
    total = sum(expected.values())
    assert out.stdout.strip() == (
        f"holds swept: 0 released, {STREAMS} interrupted records written, {total} credits charged"
    )
    assert Hold.objects.count() == 0
    gens = {g.request_id: g for g in Generation.objects.all()}
    assert set(gens) == set(streams)
    for rid, gen in gens.items():
        assert (gen.status, gen.cost, gen.error_code) == (
            "interrupted",
            expected[rid],
            "worker_lost",
        )
        assert gen.ledger_entry.amount == -expected[rid]
        # a checkpoint is at most ~2 s (8 chunks) behind what the client had received
        assert len(streams[rid]) - 10 <= gen.completion_tokens <= len(streams[rid]) + 1
    assert account.balance() == START - total
    assert account.held() == 0
    assert ledger_breaches() == []
    assert generation_ledger_breaches() == []
    call_command("verify_ledger", stdout=io.StringIO(), stderr=io.StringIO())
