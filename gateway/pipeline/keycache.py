"""Keys authenticated moments ago, per process, for the billed endpoints: the one seam of
the cache is ``authenticate`` (called by ``gateway.api.auth.BilledKeyAuthentication``) and the
provisional key it leaves in the request's environ, which ``gateway.pipeline.complete.admit``
confirms or re-reads (and, if the key changed, plans the request again).

A billed request needs its key (allowlists, limits) to plan what it holds, and reading it was
one of the request's three database round trips. A key read in the last
``GATEWAY_KEY_CACHE_SECONDS`` is taken from here *provisionally*: the write that holds the
request's credits checks it again in the same round trip (``accounts.keycheck``: same
revision, not revoked or expired, its user active and allowed the API), so a revoked or
changed key is never served. Every other ending of a provisional request (an error before
the hold, a free model that holds nothing, a refused hold, a plan that needs the balance)
reads the key from the database first, so a revoked key is refused on its next request in
every process, as without the cache. Only where the database moves a key's revision on
every change, by any path (``config.db.triggers_installed``: PostgreSQL).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from accounts.authentication import apikey_authenticate
from accounts.keycheck import KeyCheck
from accounts.models import ApiKey
from config import db
from config.errors import ApiError

MAX_KEYS = 10_000
PROVISIONAL = "gateway.key_provisional"  # the environ's ProvisionalKey, until admitted

_keys: dict[str, tuple[float, ApiKey]] = {}

Read = Callable[[dict[str, Any]], ApiKey]


def enabled() -> bool:
    return settings.GATEWAY_KEY_CACHE_SECONDS > 0 and db.triggers_installed()


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


class KeyChanged(Exception):
    """The provisional key of a request changed in the database since it was cached: the
    request is planned again with ``key`` (nothing was held)."""

    def __init__(self, key: ApiKey) -> None:
        super().__init__(key.prefix)
        self.key = key


@dataclass(frozen=True, slots=True)
class ProvisionalKey:
    """The provisional key of one request (``planning.Provisional``)."""

    meta: dict[str, Any]
    key: ApiKey
    read: Read
    usable: Callable[[ApiKey], Any]

    def check(self) -> KeyCheck:
        """What the reserve checks in its own write."""
        return KeyCheck(api_key_id=self.key.pk, revision=self.key.revision)

    def confirm(self) -> ApiKey:
        """Read the key from the database. Raises the ApiError of a key that is no longer
        usable, or KeyChanged if it changed since it was cached."""
        key_forget(self.key.prefix)
        fresh = self.read(self.meta)
        key_put(fresh)
        self.usable(fresh)
        if fresh.revision != self.key.revision:
            raise KeyChanged(fresh)
        return fresh


def authenticate(meta: dict[str, Any], *, read: Read, usable: Callable[[ApiKey], Any]) -> ApiKey:
    """The key these headers present: a copy read moments ago if it passes every check
    (then provisional: ``provisional_take``), else read with ``read`` (and cached).
    ``usable`` raises the ApiError of a key whose account may not be used; the caller
    applies it to the key returned."""
    if not enabled():
        return read(meta)
    try:
        key = apikey_authenticate(meta, lookup=key_get)
        usable(key)
    except ApiError:
        key = None  # not cached, or a copy that may be stale refuses it: read it
    if key is None:
        key = read(meta)
        key_put(key)
        return key
    meta[PROVISIONAL] = ProvisionalKey(meta=meta, key=key, read=read, usable=usable)
    return key


def provisional_take(environ: dict[str, Any]) -> ProvisionalKey | None:
    """The request's provisional key, once (its admission then owns it)."""
    return environ.pop(PROVISIONAL, None)
