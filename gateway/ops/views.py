"""/healthz, /readyz and /metrics: plain Django views outside /v1, on the API's short
middleware chain (``API_PATH_PREFIXES``), answering JSON errors in the API's shape.

/metrics is open to this machine (a loopback ``REMOTE_ADDR``, reached directly rather than
through a proxy, which adds ``X-Forwarded-For``); from anywhere else it needs
``Authorization: Bearer $METRICS_TOKEN``, compared in constant time, and without a
``METRICS_TOKEN`` it is refused (403).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Iterator

import orjson
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

import gateway.ops.metrics  # noqa: F401  (defines the request metrics even before a request)
from accounts.authentication import client_ip
from config.errors import ApiError
from gateway.api.errors import error_response
from gateway.ops.collectors import StateCollector
from gateway.ops.readiness import readiness

READ_METHODS = ("GET", "HEAD")


def _json(data: object, status: int = 200) -> HttpResponse:
    resp = HttpResponse(orjson.dumps(data), status=status, content_type="application/json")
    resp["Cache-Control"] = "no-store"
    return resp


def _method_refused(request: HttpRequest) -> HttpResponse | None:
    if request.method in READ_METHODS:
        return None
    resp = error_response(ApiError(405, "method_not_allowed", f"{request.method} is not allowed"))
    resp["Allow"] = ", ".join(READ_METHODS)
    return resp


@csrf_exempt
def healthz(request: HttpRequest) -> HttpResponse:
    """The process is up and answers."""
    return _method_refused(request) or _json({"status": "ok"})


@csrf_exempt
def readyz(request: HttpRequest) -> HttpResponse:
    """200 when every check passes, else 503 naming each failed one with its reason."""
    if refused := _method_refused(request):
        return refused
    checks = readiness()
    failed = [c.name for c in checks if not c.ok]
    body: dict[str, object] = {
        "status": "unavailable" if failed else "ok",
        "checks": {
            c.name: {"ok": c.ok, **({"reason": c.reason} if c.reason else {})} for c in checks
        },
    }
    if failed:
        body["failed"] = failed
    return _json(body, status=503 if failed else 200)


@csrf_exempt
def metrics(request: HttpRequest) -> HttpResponse:
    """Every metric in Prometheus's text format, summed over the server's processes."""
    if refused := _method_refused(request) or _access_refused(request):
        return refused
    resp = HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
    resp["Cache-Control"] = "no-store"
    return resp


def _access_refused(request: HttpRequest) -> HttpResponse | None:
    if _is_loopback(request):
        return None
    token = settings.METRICS_TOKEN
    if not token:
        err = ApiError(
            403, "forbidden", "/metrics is served to this machine only (no METRICS_TOKEN is set)"
        )
        return error_response(err)
    scheme, _, presented = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode(), token.encode()
    ):
        return None
    resp = error_response(
        ApiError(401, "invalid_token", "/metrics needs Authorization: Bearer <METRICS_TOKEN>")
    )
    resp["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return resp


def _is_loopback(request: HttpRequest) -> bool:
    meta = request.META
    if "HTTP_X_FORWARDED_FOR" in meta and not settings.GATEWAY_TRUSTED_PROXIES:
        return False  # relayed by a proxy (on this machine, maybe) for someone else
    try:
        addr = ipaddress.ip_address(client_ip(meta).strip())
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped  # ::ffff:127.0.0.1 from a dual-stack socket
    return addr.is_loopback


class _SingleProcess:
    """This process's default registry and the scrape-time gauges."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()
        yield from StateCollector().collect()


def _registry() -> CollectorRegistry | _SingleProcess:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return _SingleProcess()
    registry = CollectorRegistry(auto_describe=False)
    MultiProcessCollector(registry, path=directory)
    registry.register(StateCollector())
    return registry
