"""The one outbound HTTP session: pooled keep-alive connections, no cookies, and a timeout
on every call.

One session serves every thread and greenlet of the process (urllib3's pool is thread-safe;
a per-greenlet session would open a new connection per request under gevent).
"""

from __future__ import annotations

import http.cookiejar
import threading
from typing import Any

import orjson
import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

from gateway.providers.base import RETRYABLE_STATUSES, ProviderError

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


def post_json(
    url: str, body: dict[str, Any], *, headers: dict[str, str], stream: bool
) -> requests.Response:
    """POST a JSON body upstream. Transport failures and HTTP errors become ProviderError,
    retryable where another route may succeed."""
    data = orjson.dumps(body)
    session = session_get()
    for attempt in range(2):
        try:
            resp = session.post(url, data=data, headers=headers, timeout=timeout(), stream=stream)
            break
        except requests.exceptions.Timeout as exc:
            raise ProviderError(
                f"Upstream timed out: {exc.__class__.__name__}", retryable=True
            ) from exc
        except requests.exceptions.ConnectionError as exc:
            # A pooled keep-alive connection may have been closed by the upstream; one
            # immediate retry on a fresh connection before calling the route failed.
            if attempt == 0:
                continue
            raise ProviderError("Could not connect to the upstream", retryable=True) from exc
    if resp.status_code >= 400:
        content = resp.content
        resp.close()
        message = error_message(content) or f"Upstream answered HTTP {resp.status_code}"
        raise ProviderError(
            message, status=resp.status_code, retryable=resp.status_code in RETRYABLE_STATUSES
        )
    return resp


def error_message(content: bytes) -> str:
    """The human message of an upstream error body (OpenAI or Anthropic shape)."""
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError:
        return content[:200].decode(errors="replace")
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        return str(err.get("message") or "")[:500]
    if isinstance(err, str):
        return err[:500]
    return ""
