"""Counters of the meter's health (prometheus-client; served with the others on /metrics).

``gateway_hold_breaches_total`` counts settles whose cost exceeded the request's hold: the
hold is meant to bound every request, so any increase is a bug to find (each one is logged
at ERROR with its request id).
"""

from __future__ import annotations

from prometheus_client import Counter

HOLD_BREACHES = Counter(
    "gateway_hold_breaches",
    "Settles whose cost exceeded the request's hold (an invariant breach)",
)
