"""``GET /v1/models/catalog``: every model of the registry with its concrete builds, its routes
(provider, upstream model, priority, weight, enabled, and health: its circuit breaker as
every process shares it, gateway.pipeline.health). For operators: a management key, or a
staff user's session (the console's or the admin's login cookie).

The API's middleware chain has no sessions (config.handler), so the staff session is read
here, and only when the request carries no key: a request with a key is judged by its key
alone (an inference key is 403 ``management_key_required``). A GET changes nothing, so no
CSRF token is asked; CORS never allows credentials, so another site cannot read it with a
staff user's cookie. Anonymous: 401 ``invalid_api_key``.

Shape::

    {"object": "list",
     "data": [{"id": "openai/gpt-5.5", "name": "...", "enabled": true, "aliases": ["gpt-5.5"],
               "routes": [{"id": 7, "provider": "openai", "provider_enabled": true,
                           "upstream_model": "gpt-5.5", "priority": 10, "weight": 1,
                           "enabled": true,
                           "health": {"state": "closed", "failures": 0, "open_until": null}}]}]}

Models are sorted by id, routes as routing groups them (priority, highest first, then id).
A route is tried only when it and its provider are enabled, and its model too. One query for
the registry, one round trip for every route's health.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib import auth
from django.db.models import Prefetch
from django.http import HttpResponse
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from accounts.authentication import key_from_headers
from catalog.models import Model, Route
from gateway.api.auth import GatewayKeyAuthentication
from gateway.api.base import GatewayView, json_response, kind_refused
from gateway.pipeline.gate import gate_enter
from gateway.pipeline.health import RouteHealth, route_health


class StaffSessionAuthentication(BaseAuthentication):
    """A staff user's session cookie, when the request presents no key (else None)."""

    def authenticate(self, request: Request) -> tuple[Any, None] | None:
        cookie = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        if not cookie or key_from_headers(request.META):
            return None
        django_request = request._request
        django_request.session = import_module(settings.SESSION_ENGINE).SessionStore(cookie)
        user = auth.get_user(django_request)
        if not (user.is_authenticated and user.is_active and user.is_staff):
            return None
        return user, None


def _health(shown: RouteHealth) -> dict[str, Any]:
    until = shown.open_until.isoformat().replace("+00:00", "Z") if shown.open_until else None
    return {"state": shown.state, "failures": shown.failures, "open_until": until}


def catalog_document() -> dict[str, Any]:
    routes = Route.objects.select_related("provider").order_by("-priority", "id")
    models = list(
        Model.objects.order_by("public_id").prefetch_related(
            "aliases", Prefetch("routes", queryset=routes)
        )
    )
    health = route_health(r.pk for m in models for r in m.routes.all())
    return {
        "object": "list",
        "data": [
            {
                "id": m.public_id,
                "name": m.name,
                "enabled": m.is_enabled,
                "aliases": sorted(a.alias for a in m.aliases.all()),
                "routes": [
                    {
                        "id": r.pk,
                        "provider": r.provider.slug,
                        "provider_enabled": r.provider.is_enabled,
                        "upstream_model": r.upstream_model,
                        "priority": r.priority,
                        "weight": r.weight,
                        "enabled": r.is_enabled,
                        "health": _health(health[r.pk]),
                    }
                    for r in m.routes.all()
                ],
            }
            for m in models
        ],
    }


class ModelsCatalogView(GatewayView):
    authentication_classes = [StaffSessionAuthentication, GatewayKeyAuthentication]
    key_kinds = frozenset({"management"})

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        gate_enter()
        super(GatewayView, self).initial(request, *args, **kwargs)
        if request.auth is None:
            return  # a staff user's session
        if request.auth.kind not in self.key_kinds:
            raise kind_refused(request.auth.kind)
        self.rate_count(request)

    def get(self, request: Request) -> HttpResponse:
        return json_response(catalog_document())
