"""The one outbound HTTP session: pooled keep-alive connections, no cookies, and a timeout
on every call.

One session serves every thread and greenlet of the process (urllib3's pool is thread-safe;
a per-greenlet session would open a new connection per request under gevent).
"""

from __future__ import annotations

import http.cookiejar
import threading

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

_lock = threading.Lock()
_session: requests.Session | None = None


def session_get() -> requests.Session:
    global _session
    if _session is None:
        with _lock:
            if _session is None:
                session = requests.Session()
                adapter = HTTPAdapter(pool_connections=64, pool_maxsize=1024, max_retries=0)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                session.headers["User-Agent"] = "llm-gateway/0.1"
                session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
                session.trust_env = False
                _session = session
    return _session


def timeout() -> tuple[float, float]:
    """(connect, read) seconds for upstream calls."""
    return (settings.GATEWAY_UPSTREAM_CONNECT_TIMEOUT, settings.GATEWAY_UPSTREAM_READ_TIMEOUT)
