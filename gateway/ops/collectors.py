"""The gauges computed when /metrics is scraped, from the database and the route breakers
rather than from any process's memory, so every worker answers the same: open holds and the
credits they hold (one aggregate over the holds table, which keeps only requests in flight),
the last sweep, and each route's circuit breaker (``gateway.pipeline.health``, shared across
processes)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.db import DatabaseError
from django.db.models import Count, Sum
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)


class StateCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from _holds()
        yield from _routes()

    def describe(self) -> list[Metric]:
        return []  # computed at scrape time: nothing to check at registration


def _holds() -> Iterator[Metric]:
    from billing.models import Hold
    from gateway.models import SweepRun

    try:
        totals = Hold.objects.aggregate(n=Count("id"), credits=Sum("amount"))
        ran_at = SweepRun.objects.filter(pk=1).values_list("ran_at", flat=True).first()
    except DatabaseError:
        log.exception("metrics: the holds could not be read")
        return
    yield GaugeMetricFamily(
        "gateway_holds_open", "Holds open: requests and media tasks in flight.", totals["n"]
    )
    yield GaugeMetricFamily(
        "gateway_held_credits", "Credits held by the open holds.", totals["credits"] or 0
    )
    if ran_at is not None:
        yield GaugeMetricFamily(
            "gateway_sweeper_last_run_timestamp_seconds",
            "When the holds sweeper last ran (Unix time).",
            ran_at.timestamp(),
        )


def _routes() -> Iterator[Metric]:
    try:
        states = _route_states()
    except Exception:
        log.exception("metrics: the route breakers could not be read")
        return
    labels = ["route", "provider", "model"]
    is_open = GaugeMetricFamily(
        "gateway_route_circuit_open",
        "1 while the route's circuit breaker keeps it out of rotation, else 0.",
        labels=labels,
    )
    failures = GaugeMetricFamily(
        "gateway_route_failures",
        "The route's consecutive failures counted by its breaker.",
        labels=labels,
    )
    for route_id in sorted(states):
        opened, count, provider, model = states[route_id]
        values = [str(route_id), provider, model]
        is_open.add_metric(values, 1 if opened else 0)
        failures.add_metric(values, count)
    yield is_open
    yield failures


def _route_states() -> dict[int, tuple[bool, int, str, str]]:
    """Route id -> (open, consecutive failures, provider slug, model): every catalog route
    (closed unless its breaker says otherwise) and every route whose breaker has a state (a
    user's own provider, id -pk, is named ``self`` without its owner's slug)."""
    from catalog.selectors import model_list
    from gateway.pipeline import health

    names = {r.id: (r.provider_slug, m.public_id) for m in model_list() for r in m.routes}
    states = {rid: (False, 0, *names[rid]) for rid in names}
    for route_id, state in health.route_health_all().items():
        provider, model = names.get(route_id, ("self" if route_id < 0 else "", ""))
        states[route_id] = (state.state == "open", state.failures, provider, model)
    return states
