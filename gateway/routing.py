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
from decimal import Decimal, InvalidOperation
from itertools import groupby
from typing import Any

from django.conf import settings

from catalog.selectors import MILLION, ResolvedModel, RouteInfo
from gateway.validation import invalid


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
        _speeds.clear()


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


@dataclass(slots=True)
class _Speed:
    latency_ms: float = 0.0
    samples: int = 0


_speeds: dict[int, _Speed] = {}


def route_observe(route_id: int, *, latency_ms: float) -> None:
    """Feed a successful call's time to first byte into the route's moving average."""
    speed = _speeds.setdefault(route_id, _Speed())
    alpha = 0.2 if speed.samples else 1.0
    speed.latency_ms += alpha * (latency_ms - speed.latency_ms)
    speed.samples += 1


def _latency(route: RouteInfo) -> float:
    speed = _speeds.get(route.id)
    return speed.latency_ms if speed and speed.samples else float("inf")


@dataclass(frozen=True, slots=True)
class ProviderPrefs:
    """The request's ``provider`` object (OpenRouter's provider routing)."""

    order: tuple[str, ...] = ()
    only: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    allow_fallbacks: bool = True
    sort: str | None = None


def routes_plan(routes: tuple[RouteInfo, ...], prefs: ProviderPrefs | None) -> list[RouteInfo]:
    """The routes to try for one model under the request's provider preferences."""
    ordered = routes_order(routes)
    if prefs is None:
        return ordered
    if prefs.only:
        ordered = [r for r in ordered if r.provider_slug in prefs.only]
    if prefs.ignore:
        ordered = [r for r in ordered if r.provider_slug not in prefs.ignore]
    if prefs.sort in ("latency", "throughput"):
        # Measured time to first byte orders both; unmeasured routes keep their place last.
        ordered.sort(key=_latency)
    if prefs.order:
        rank = {slug: i for i, slug in enumerate(prefs.order)}
        named = sorted(
            (r for r in ordered if r.provider_slug in rank), key=lambda r: rank[r.provider_slug]
        )
        rest = [r for r in ordered if r.provider_slug not in rank]
        ordered = named + (rest if prefs.allow_fallbacks else [])
    elif not prefs.allow_fallbacks:
        # No backup providers: only the one that would be tried first.
        ordered = ordered[:1]
    return ordered


def provider_prefs(body: dict[str, Any]) -> ProviderPrefs | None:
    """The request's ``provider`` object, checked."""
    raw = body.get("provider")
    if raw is None:
        return None

    def slugs(name: str) -> tuple[str, ...]:
        value = raw.get(name) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise invalid(f"provider.{name}", f"provider.{name} must be an array of strings")
        return tuple(value)

    sort = raw.get("sort")
    if sort is not None and sort not in ("price", "latency", "throughput"):
        raise invalid("provider.sort", "provider.sort must be price, latency or throughput")
    fallbacks = raw.get("allow_fallbacks", True)
    if not isinstance(fallbacks, bool):
        raise invalid("provider.allow_fallbacks", "provider.allow_fallbacks must be a boolean")
    return ProviderPrefs(
        order=slugs("order"),
        only=slugs("only"),
        ignore=slugs("ignore"),
        allow_fallbacks=fallbacks,
        sort=sort,
    )


def max_price_filter(body: dict[str, Any], models: list[ResolvedModel]) -> list[ResolvedModel]:
    """Drop models priced above ``provider.max_price`` (USD per 1M tokens, per request, per
    image — the units of the registry)."""
    raw = (body.get("provider") or {}).get("max_price")
    if raw is None:
        return models
    if not isinstance(raw, dict):
        raise invalid("provider.max_price", "provider.max_price must be an object")
    limits: dict[str, Decimal] = {}
    for name in ("prompt", "completion", "request", "image"):
        if raw.get(name) is not None:
            try:
                limits[name] = Decimal(str(raw[name]))
            except InvalidOperation as exc:
                raise invalid(f"provider.max_price.{name}", "must be a number") from exc
    scale = {"prompt": 1, "completion": 1, "request": MILLION, "image": MILLION}
    return [
        m for m in models if all(getattr(m.prices, k) <= v * scale[k] for k, v in limits.items())
    ]
