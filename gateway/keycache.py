"""Keys authenticated moments ago, per process, for the billed endpoints.

A billed request needs its key (allowlists, limits) to plan what it holds, and reading it was
one of the request's three database round trips. A key read in the last
``GATEWAY_KEY_CACHE_SECONDS`` is taken from here *provisionally*: the statement that holds
the request's credits checks it again in the same round trip (same revision, not revoked or
expired, its user active and allowed the API), so a revoked or changed key is never served.
Every other ending of a provisional request (an error before the hold, a free model that
holds nothing, a refused hold, a plan that needs the balance) reads the key from the database
first, so a revoked key is refused on its next request in every process, as without the
cache. PostgreSQL only (the check rides on its single-statement reserve).
"""

from __future__ import annotations

import time

from django.conf import settings

from accounts.models import ApiKey
from billing.sql import is_postgres

MAX_KEYS = 10_000

_keys: dict[str, tuple[float, ApiKey]] = {}


def enabled() -> bool:
    return settings.GATEWAY_KEY_CACHE_SECONDS > 0 and is_postgres()


def key_get(prefix: str) -> ApiKey | None:
    """The key read for this prefix within the cache's lifetime, if any (provisional)."""
    entry = _keys.get(prefix)
    if entry is None:
        return None
    if time.monotonic() - entry[0] >= settings.GATEWAY_KEY_CACHE_SECONDS:
        _keys.pop(prefix, None)
        return None
    return entry[1]


def key_put(key: ApiKey) -> None:
    if len(_keys) >= MAX_KEYS:
        _keys.clear()
    _keys[key.prefix] = (time.monotonic(), key)


def key_forget(prefix: str) -> None:
    _keys.pop(prefix, None)


def keys_clear() -> None:
    _keys.clear()
