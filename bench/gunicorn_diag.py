"""gunicorn settings for a diagnostic benchmark run (``bench/stream.py --diag``): exactly the
project's gunicorn.conf.py, plus instrumentation in each worker. Not for production.

Each worker writes JSON lines to ``$BENCH_DIAG_DIR/diag-<pid>.jsonl``:

- ``{"k": "tick", ...}`` every 50 ms: event-loop lag (how late a 50 ms sleep wakes up: the
  time a ready greenlet waits for the worker's CPU), requests in the app, and the Django
  psycopg pool's stats (size, available, clients waiting for a connection, and the
  counters: requests, requests queued, ms spent waiting, connections opened);
- ``{"k": "req", ...}`` per request, on close: perf_counter times of the worker's greenlet
  starting on the accepted connection (``h``), entering the WSGI app (``a``), the app
  returning its response (``r``; for a stream: after auth, reserve and the upstream's first
  chunk), the first non-empty body piece (``f``) and the close (``c``).

What-if (changes behaviour, off unless set): ``BENCH_WHATIF_ADMISSION=K`` lets at most K
requests per worker run the app up to its response (admission: auth, reserve, the upstream's
first chunk); the others wait in FIFO order before Django, holding neither CPU nor a DB
connection, and a relaying stream's settle no longer queues for a connection behind them.
``BENCH_WHATIF_UPSTREAM_REUSE=1``: a stream that ended normally (``[DONE]`` or a finish
reason) gives its upstream connection back to the keep-alive pool (drain the body's end,
release) instead of shutting the socket down.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

_conf = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"
exec(compile(_conf.read_text(), str(_conf), "exec"))  # the production settings, unchanged


def post_worker_init(worker):
    import gevent

    out_dir = Path(os.environ.get("BENCH_DIAG_DIR") or "/tmp")
    out = open(out_dir / f"diag-{os.getpid()}.jsonl", "a", buffering=1 << 16)  # noqa: SIM115
    state = {"active": 0}
    starts: dict[int, float] = {}  # id(greenlet) -> when it began on its connection
    clock = time.perf_counter

    def write(record: dict) -> None:
        out.write(json.dumps(record, separators=(",", ":")) + "\n")

    inner_handle = worker.handle

    def handle(listener, client, addr):
        key = id(gevent.getcurrent())
        starts[key] = clock()
        try:
            return inner_handle(listener, client, addr)
        finally:
            starts.pop(key, None)

    worker.handle = handle
    inner_app = worker.wsgi
    admission = int(os.environ.get("BENCH_WHATIF_ADMISSION") or 0)
    gate = None
    if admission > 0:
        from gevent.lock import BoundedSemaphore

        gate = BoundedSemaphore(admission)

    class Body:
        def __init__(self, it, rec: dict) -> None:
            self.it = it
            self.rec = rec

        def __iter__(self):
            for piece in self.it:
                if piece and "f" not in self.rec:
                    self.rec["f"] = clock()
                yield piece

        def close(self) -> None:
            try:
                close = getattr(self.it, "close", None)
                if close is not None:
                    close()
            finally:
                self.rec["c"] = clock()
                state["active"] -= 1
                write(self.rec)

    def app(environ, start_response):
        rec = {"k": "req", "h": starts.pop(id(gevent.getcurrent()), None), "a": clock()}
        state["active"] += 1
        try:
            if gate is not None:
                with gate:
                    rec["g"] = clock()  # admitted
                    it = inner_app(environ, start_response)
            else:
                it = inner_app(environ, start_response)
        except BaseException:
            state["active"] -= 1
            raise
        rec["r"] = clock()
        return Body(it, rec)

    worker.wsgi = app

    def monitor() -> None:
        from django.db import connections

        while True:
            t = clock()
            gevent.sleep(0.05)
            lag = clock() - t - 0.05
            try:
                pool = connections["default"].pool
                stats = pool.get_stats() if pool is not None else {}
            except Exception as exc:
                stats = {"error": repr(exc)}
            write({"k": "tick", "t": clock(), "lag": lag, "active": state["active"], **stats})
            out.flush()

    gevent.spawn(monitor)
    if os.environ.get("BENCH_WHATIF_UPSTREAM_REUSE"):
        reuse_upstream_connections()


def reuse_upstream_connections() -> None:
    import contextlib

    from gateway.providers import openai

    abort = openai.ChunkStream.close

    def close(self) -> None:
        if getattr(self, "bench_released", False):
            return
        if self.is_finished:
            raw = getattr(self.resp, "raw", self.resp)  # requests' or urllib3's response
            with contextlib.suppress(Exception):
                raw.drain_conn()
                raw.release_conn()
                self.bench_released = True
                return
        abort(self)

    openai.ChunkStream.close = close
