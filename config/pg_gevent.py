"""psycopg connections that wait for the database on gevent's event loop directly.

Under gevent's monkey-patching psycopg waits through the patched ``select.poll()``: per
round trip it builds a poll object, a watcher per registration and a result list in Python,
and wakes every 100 ms to look for Ctrl-C. Here a round trip waits on one libev io watcher
(``gevent.socket.wait_read`` / ``wait_write``), the cheapest way a greenlet can wait for a
socket. The gevent web workers use it for the pooled connections (``config.settings``);
every other process (Celery, manage.py, the tests) keeps psycopg's own wait.
"""

from __future__ import annotations

import sys
from contextlib import nullcontext
from typing import Any

import psycopg
from psycopg import errors
from psycopg.waiting import READY_R, READY_RW, READY_W, WAIT_R, WAIT_W


def gevent_patched() -> bool:
    """Whether gevent has patched ``select`` in this process (gunicorn.conf.py does)."""
    monkey = sys.modules.get("gevent.monkey")
    return bool(monkey and monkey.is_module_patched("select"))


def wait_gevent(gen: Any, fileno: int, timeout: float | None = None) -> Any:
    """Consume a psycopg generator, parking the greenlet on the socket when it must wait.

    ``WAIT_RW`` (a send that did not fit the socket buffer) is answered ``READY_RW`` once
    either side is ready: psycopg then reads what is there and flushes what it can, both
    without blocking, and asks again."""
    from gevent import Timeout
    from gevent.socket import wait_read, wait_readwrite, wait_write

    # psycopg's contract (3.3.6+): a wait that runs out raises its _WaitTimeout; only
    # notifies() passes a timeout
    timer = (
        nullcontext()
        if timeout is None
        else Timeout(timeout, errors._WaitTimeout("wait timeout expired"))
    )
    try:
        with timer:
            state = next(gen)
            while True:
                if state == WAIT_R:
                    wait_read(fileno)
                    state = gen.send(READY_R)
                elif state == WAIT_W:
                    wait_write(fileno)
                    state = gen.send(READY_W)
                else:
                    wait_readwrite(fileno)
                    state = gen.send(READY_RW)
    except StopIteration as stop:
        return stop.value


class GeventConnection(psycopg.Connection[Any]):
    """A psycopg connection whose waits are ``wait_gevent``'s.

    A greenlet killed in mid-query leaves the connection ACTIVE; the pool closes such a
    connection when it is given back rather than hand it out again."""

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        return wait_gevent(gen, self.pgconn.socket, timeout)
