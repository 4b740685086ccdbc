"""Reads of users' own providers for the console: each with its health (the breaker of its
route id ``-pk``, ``gateway.pipeline.health``) and the keys routing to it by default."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import ApiKey
from catalog.models import UserProvider
from gateway.pipeline.health import RouteHealth, route_health


@dataclass(frozen=True, slots=True)
class ProviderRow:
    provider: UserProvider
    health: RouteHealth
    default_keys: tuple[ApiKey, ...]


def user_provider_rows(*, user_id: int) -> list[ProviderRow]:
    providers = list(UserProvider.objects.filter(user_id=user_id))
    health = route_health([-p.pk for p in providers]) if providers else {}
    keys = list(ApiKey.objects.filter(user_id=user_id, self_route_provider__isnull=False))
    return [
        ProviderRow(
            provider=p,
            health=health[-p.pk],
            default_keys=tuple(k for k in keys if k.self_route_provider_id == p.pk),
        )
        for p in providers
    ]


def user_provider_get(*, user_id: int, pk: int) -> UserProvider | None:
    return UserProvider.objects.filter(user_id=user_id, pk=pk).first()
