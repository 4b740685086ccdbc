"""Which routes to try, in what order, and which to skip for a while.

Routes are tried by priority group (highest first), weighted at random inside a group. A
route that fails ``GATEWAY_CIRCUIT_FAILURES`` times in a row on retryable upstream statuses
or transport errors is skipped for ``GATEWAY_CIRCUIT_COOLDOWN_SECONDS`` and then comes back
on its own (the breaker is shared by every process, keyed by route id, and decided only by
structured outcomes, never by message text: gateway.pipeline.health).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from catalog.selectors import ResolvedModel, RouteInfo
from config.money import CREDITS_PER_USD
from gateway.pipeline import health
from gateway.surfaces.validation.routing_fields import price_limits, provider_validate


def route_is_open(route_id: int, now: float | None = None) -> bool:
    """True while the route is taken out of rotation (``now``: Unix seconds, for tests)."""
    return health.route_is_open(route_id, now)


def route_record(route_id: int, *, ok: bool) -> None:
    health.route_record(route_id, ok=ok)


def routes_reset() -> None:
    health.health_reset()
    with _lock:
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
    health.health_prefetch(r.id for r in routes)  # one round trip for all of them
    now = time.time()
    is_open = {r.id: route_is_open(r.id, now) for r in routes}
    healthy = [r for r in routes if not is_open[r.id]]
    tripped = [r for r in routes if is_open[r.id]]
    ordered: list[RouteInfo] = []
    for _, group in groupby(sorted(healthy, key=lambda r: -r.priority), key=lambda r: r.priority):
        ordered.extend(_weighted_shuffle(list(group)))
    return ordered + tripped


@dataclass(slots=True)
class _Speed:
    latency_ms: float = 0.0
    samples: int = 0


_speeds: dict[int, _Speed] = {}
_lock = threading.Lock()


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
    """The request's ``provider`` object, checked (gateway.surfaces.validation.routing_fields)."""
    if body.get("provider") is None:
        return None
    raw = provider_validate(body["provider"])
    return ProviderPrefs(
        order=tuple(raw.get("order") or ()),
        only=tuple(raw.get("only") or ()),
        ignore=tuple(raw.get("ignore") or ()),
        allow_fallbacks=raw.get("allow_fallbacks", True) is not False,
        sort=raw.get("sort"),
    )


def max_price_filter(body: dict[str, Any], models: list[ResolvedModel]) -> list[ResolvedModel]:
    """Drop models priced above ``provider.max_price`` (USD per 1M tokens, per request, per
    image — the units of the registry). Limits are finite and not negative."""
    raw = body.get("provider")
    if not isinstance(raw, dict) or raw.get("max_price") is None:
        return models
    limits = price_limits(raw["max_price"])
    scale = {"prompt": 1, "completion": 1, "request": CREDITS_PER_USD, "image": CREDITS_PER_USD}
    return [
        m for m in models if all(getattr(m.prices, k) <= v * scale[k] for k, v in limits.items())
    ]
