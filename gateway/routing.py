"""Which routes to try, in what order, and which to skip for a while.

Routes are tried by priority group (highest first), weighted at random inside a group. A
route that fails ``GATEWAY_CIRCUIT_FAILURES`` times in a row on retryable upstream statuses
or transport errors is skipped for ``GATEWAY_CIRCUIT_COOLDOWN_SECONDS`` and then comes back
on its own (the breaker is per process, keyed by route id, and decided only by structured
outcomes, never by message text).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from itertools import groupby

from django.conf import settings

from catalog.selectors import RouteInfo


@dataclass(slots=True)
class _Breaker:
    failures: int = 0
    open_until: float = 0.0


_breakers: dict[int, _Breaker] = {}
_lock = threading.Lock()


def route_is_open(route_id: int, now: float | None = None) -> bool:
    """True while the route is taken out of rotation."""
    breaker = _breakers.get(route_id)
    return breaker is not None and breaker.open_until > (now or time.monotonic())


def route_record(route_id: int, *, ok: bool) -> None:
    with _lock:
        breaker = _breakers.setdefault(route_id, _Breaker())
        if ok:
            breaker.failures = 0
            breaker.open_until = 0.0
            return
        breaker.failures += 1
        if breaker.failures >= settings.GATEWAY_CIRCUIT_FAILURES:
            breaker.open_until = time.monotonic() + settings.GATEWAY_CIRCUIT_COOLDOWN_SECONDS
            breaker.failures = 0


def routes_reset() -> None:
    with _lock:
        _breakers.clear()


def _weighted_shuffle(routes: list[RouteInfo]) -> list[RouteInfo]:
    if len(routes) < 2:
        return routes
    # Efraimidis-Spirakis: sort by u^(1/w), so each route leads with probability w / sum(w).
    keyed = [(random.random() ** (1.0 / max(r.weight, 1)), r) for r in routes if r.weight > 0]
    keyed.sort(key=lambda item: item[0], reverse=True)
    return [r for _, r in keyed]


def routes_order(routes: tuple[RouteInfo, ...]) -> list[RouteInfo]:
    """Routes in the order to try them: healthy ones by priority then weight, then the ones
    whose breaker is open (a last resort rather than no answer)."""
    now = time.monotonic()
    healthy = [r for r in routes if not route_is_open(r.id, now)]
    tripped = [r for r in routes if route_is_open(r.id, now)]
    ordered: list[RouteInfo] = []
    for _, group in groupby(sorted(healthy, key=lambda r: -r.priority), key=lambda r: r.priority):
        ordered.extend(_weighted_shuffle(list(group)))
    return ordered + tripped
