"""Keep-alive HTTP/1.1 connections to the upstreams, on the standard library's
``http.client``.

One pool of idle connections per (scheme, host, port), shared by every thread and greenlet
of the process; no cookies, no redirects, no proxies from the environment, no content
encoding (``Accept-Encoding: identity``), a connect timeout and a read timeout on every
call. Inside ``deadline_scope`` a call also ends at the request's total deadline: every
read waits no longer than what is left of it, and a call that reaches it raises
``DeadlineExceeded``. A connection goes back to its pool only when its response was read to
the end and the upstream did not ask to close it.

``request(..., user_url=True)`` is for a URL a user supplied: it is checked first
(``gateway.providers.url_guard.assert_public_url``) and the connection goes to the very
address that was checked, through pools of their own.

``http.client`` directly rather than urllib3 (whose ``HTTPConnection`` subclasses it): the
gateway uses none of what urllib3 adds per call (retry and timeout objects, header dicts,
content decoding, redirect handling), and bench/micro.py measured the upstream call at
~0.6 ms of CPU here against ~1.05 ms through a urllib3 pool.
"""

from __future__ import annotations

import contextlib
import contextvars
import http.client
import socket
import ssl
import time
from collections import deque
from collections.abc import Iterator
from functools import cache
from typing import Final
from urllib.parse import urlsplit

from gateway.providers.base import ProviderError
from gateway.providers.url_guard import assert_public_url

# Failures of the transport (refused, reset, timed out, a broken status line or body).
TransportError: Final = (http.client.HTTPException, OSError)

IDLE_SECONDS: Final = 30.0  # an idle connection older than this is closed, not reused
MAX_IDLE_PER_HOST: Final = 1024

# (monotonic time, total seconds) of the current request's deadline; per thread/greenlet.
_deadline: contextvars.ContextVar[tuple[float, float] | None] = contextvars.ContextVar(
    "upstream_deadline", default=None
)


class DeadlineExceeded(ProviderError):
    """The request's total deadline passed during an upstream call. Not retryable: another
    route would have no time left either."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"The request reached its deadline of {seconds:g} s", retryable=False)


@contextlib.contextmanager
def deadline_scope(*, started: float, seconds: float) -> Iterator[None]:
    """Upstream calls made inside end ``seconds`` after ``started`` (``time.monotonic()``)."""
    token = _deadline.set((started + seconds, seconds))
    try:
        yield
    finally:
        _deadline.reset(token)


def _time_left(deadline: tuple[float, float] | None, timeout: float) -> float:
    """``timeout``, or less if the deadline is nearer; raises DeadlineExceeded once it passed."""
    if deadline is None:
        return timeout
    left = deadline[0] - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded(deadline[1])
    return min(timeout, left)


def _deadline_passed(deadline: tuple[float, float] | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline[0]


class Response:
    """An upstream response: ``status``, ``header(name)``, ``data`` (the whole body),
    ``read1`` (what has arrived, for streams), ``release`` (after the body's end: the
    connection goes back to its pool) and ``close`` (callable from any thread or greenlet:
    shuts the socket down, so a blocked read ends at once and the upstream sees the client
    leave)."""

    __slots__ = (
        "_conn",
        "_deadline",
        "_pool",
        "_raw",
        "_read_all",
        "_read_timeout",
        "sock",
        "status",
    )

    def __init__(
        self,
        pool: _Pool,
        conn: http.client.HTTPConnection,
        raw: http.client.HTTPResponse,
        deadline: tuple[float, float] | None = None,
        read_timeout: float = 0.0,
    ) -> None:
        self._pool, self._conn, self._raw = pool, conn, raw
        self.sock: socket.socket | None = conn.sock
        self.status = raw.status
        self._read_all: bytes | None = None
        self._deadline, self._read_timeout = deadline, read_timeout

    @property
    def data(self) -> bytes:
        if self._read_all is None:
            self._read_all = self._raw.read() if self._deadline is None else self._read_by()
            self.release()
        return self._read_all

    def _read_by(self) -> bytes:
        """The whole body, read by the deadline (each read waits no longer than what is
        left, so an upstream trickling bytes cannot stretch it)."""
        pieces: list[bytes] = []
        try:
            while True:
                if self.sock is not None:
                    self.sock.settimeout(_time_left(self._deadline, self._read_timeout))
                piece = self._raw.read1(65536)
                if not piece:
                    if self._raw.length:  # the upstream closed before the whole body
                        raise http.client.IncompleteRead(b"".join(pieces), self._raw.length)
                    # read1 leaves a response whose length reached 0 open: close it, so the
                    # connection goes back to its pool as after read()
                    self._raw.close()
                    return b"".join(pieces)
                pieces.append(piece)
        except TimeoutError as exc:
            self.close()
            if _deadline_passed(self._deadline):
                raise DeadlineExceeded(self._deadline[1]) from exc  # type: ignore[index]
            raise
        except DeadlineExceeded:
            self.close()
            raise

    def read1(self, size: int) -> bytes:
        return self._raw.read1(size)

    def header(self, name: str) -> str | None:
        """The value of the response header ``name`` (None when absent)."""
        return self._raw.getheader(name)

    def drain(self) -> None:
        """Read whatever is left of the body (after a stream's last event)."""
        while self._raw.read1(65536):
            pass

    def release(self) -> None:
        """Give the connection back if its body was read to the end; else close it."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._raw.isclosed() and not self._raw.will_close and conn.sock is not None:
            self._pool.put(conn)
        else:
            conn.close()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            self._raw.close()
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


class _Pool:
    """Idle connections to one origin, most recently used first. ``deque`` appends and pops
    are atomic, so threads and greenlets share it without a lock."""

    def __init__(self, scheme: str, host: str, port: int, address: str = "") -> None:
        self.scheme, self.host, self.port = scheme, host, port
        self.address = address  # connect to this address, not to what ``host`` resolves to
        self.idle: deque[tuple[float, http.client.HTTPConnection]] = deque()

    def get(self) -> http.client.HTTPConnection | None:
        now = time.monotonic()
        while True:
            try:
                since, conn = self.idle.pop()
            except IndexError:
                return None
            if now - since < IDLE_SECONDS:
                return conn
            conn.close()

    def put(self, conn: http.client.HTTPConnection) -> None:
        now = time.monotonic()
        with contextlib.suppress(IndexError):
            # the least recently used end: close what has idled too long
            while now - self.idle[0][0] >= IDLE_SECONDS:
                self.idle.popleft()[1].close()
        if len(self.idle) >= MAX_IDLE_PER_HOST:
            conn.close()
            return
        self.idle.append((now, conn))

    def new(self, connect_timeout: float, read_timeout: float) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection
        if self.scheme == "https":
            conn = http.client.HTTPSConnection(
                self.host, self.port, timeout=connect_timeout, context=_tls_context()
            )
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=connect_timeout)
        if self.address:
            # http.client's own hook for opening the socket: the Host header and TLS (SNI,
            # certificate) still name the host
            conn._create_connection = self._connect_pinned  # type: ignore[attr-defined]
        conn.connect()
        assert conn.sock is not None
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.sock.settimeout(read_timeout)
        return conn

    def _connect_pinned(
        self, address: tuple[str, int], timeout: float, source: tuple[str, int] | None = None
    ) -> socket.socket:
        return socket.create_connection((self.address, address[1]), timeout, source)

    def clear(self) -> None:
        while True:
            try:
                _, conn = self.idle.pop()
            except IndexError:
                return
            conn.close()


@cache
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


# (scheme, host, port) of an admin's URL; (scheme, host, port, address) of a user's
_pools: dict[tuple[str | int, ...], _Pool] = {}


class ConnectFailed(Exception):
    """No connection could be opened (nothing was sent)."""


def _pool_for(url: str) -> tuple[_Pool, str]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if scheme == "https" else 80)
    key = (scheme, parts.hostname, port)
    pool = _pools.get(key)
    if pool is None:
        pool = _pools.setdefault(key, _Pool(*key))
    path = parts.path or "/"
    return pool, f"{path}?{parts.query}" if parts.query else path


def _user_pool_for(url: str) -> tuple[_Pool, str]:
    """The pool for a URL a user supplied: checked, and pinned to its first address."""
    checked = assert_public_url(url)
    address = checked.addresses[0]
    key = (checked.scheme, checked.host, checked.port, address)
    pool = _pools.get(key)
    if pool is None:
        pool = _pools.setdefault(key, _Pool(checked.scheme, checked.host, checked.port, address))
    parts = urlsplit(url)
    path = parts.path or "/"
    return pool, f"{path}?{parts.query}" if parts.query else path


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    connect_timeout: float,
    read_timeout: float,
) -> Response:
    """``request("POST", ...)`` to an admin's URL."""
    return request(
        "POST", url, body, headers, connect_timeout=connect_timeout, read_timeout=read_timeout
    )


def request(
    method: str,
    url: str,
    body: bytes | None,
    headers: dict[str, str],
    *,
    connect_timeout: float,
    read_timeout: float,
    user_url: bool = False,
) -> Response:
    """Send ``method`` with ``body`` (None: no body, as for a GET) and read the status line
    and headers. A reused connection that the upstream closed while it sat idle fails before
    any response byte: that one attempt is repeated once on a new connection. ``user_url``:
    the URL came from a user, so it must pass ``assert_public_url`` (DomainError
    ``invalid_url`` before anything is sent). Raises ConnectFailed, DeadlineExceeded (inside
    ``deadline_scope``), or one of TransportError."""
    pool, target = _user_pool_for(url) if user_url else _pool_for(url)
    deadline = _deadline.get()
    timeout = _time_left(deadline, read_timeout)
    conn = pool.get()
    while True:
        reused = conn is not None
        if conn is None:
            timeout = _time_left(deadline, read_timeout)
            try:
                conn = pool.new(_time_left(deadline, connect_timeout), timeout)
            except TimeoutError as exc:
                if _deadline_passed(deadline):
                    raise DeadlineExceeded(deadline[1]) from exc  # type: ignore[index]
                raise ConnectFailed(str(exc)) from exc
            except OSError as exc:
                raise ConnectFailed(str(exc)) from exc
        else:
            assert conn.sock is not None
            conn.sock.settimeout(timeout)
        try:
            conn.request(method, target, body=body, headers=headers)
            raw = conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            conn.close()
            if not reused:
                raise
            conn = None
            continue
        except TimeoutError as exc:
            conn.close()
            if _deadline_passed(deadline):
                raise DeadlineExceeded(deadline[1]) from exc  # type: ignore[index]
            raise
        except BaseException:
            conn.close()
            raise
        return Response(pool, conn, raw, deadline, read_timeout)


def pools_clear() -> None:
    """Close every idle connection (tests, and after a fork)."""
    for pool in list(_pools.values()):
        pool.clear()
