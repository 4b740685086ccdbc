"""Requests routed to the caller's own provider (self-route), decided at admission.

A request is self-routed when its ``provider.only`` names ``my-…`` slugs, or when it names
no ``only`` and its key has a default provider (``ApiKey.self_route_provider``). Then each
candidate model is served only by the caller's providers so named: one synthesized
``RouteInfo`` each, route id ``-UserProvider.pk`` (breakers and health never collide with
catalog routes), carrying the decrypted key for this request. Slugs the caller does not
own are dropped, so another user's ``my-x`` is exactly an unknown provider (404
``no_matching_route``, as for any provider no route has) and is never contacted.
``only`` may not mix the caller's providers with the catalog's: a request is priced
either at the fee or at the listed price, never at one held and the other charged.

Upstream model name: the ``upstream_model`` of the model's first catalog route of the
same dialect (by priority), else the model's public id.

Price: the model's listed prices scaled by ``GATEWAY_SELF_ROUTE_FEE_PERCENT`` / 100, used
for both the hold and the settle, so the charge is computed exactly as any other:
``max(ceil(fee% x the unrounded listed cost), BILLING_MIN_CHARGE)``, and a fee of 0 makes
every price zero, the model free for this request: nothing held and a cost of 0.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from django.conf import settings

from accounts.models import ApiKey
from catalog.models import UserProvider
from catalog.provider_keys import ProviderKeyUnreadable, provider_key_decrypt
from catalog.selectors import Prices, ResolvedModel, RouteInfo
from catalog.units import UNIT_NAMES
from config.errors import ApiError
from gateway.self_route.services import SLUG_PREFIX
from gateway.surfaces.validation import invalid


def route_for(provider: UserProvider, model: ResolvedModel, key: str) -> RouteInfo:
    same = next((r for r in model.routes if r.dialect == provider.dialect), None)
    return RouteInfo(
        id=-provider.pk,
        provider_slug=provider.slug,
        provider_name=provider.slug,
        dialect=provider.dialect,
        base_url=provider.base_url.rstrip("/"),
        api_key_env="",
        upstream_model=same.upstream_model if same else model.public_id,
        priority=0,
        weight=1,
        api_key=key,
        is_user=True,
    )


def prices_scaled(prices: Prices, percent: Decimal) -> Prices:
    """Every unit price times ``percent`` / 100 (exact ``Decimal``)."""
    return Prices(**{name: getattr(prices, name) * percent / 100 for name in UNIT_NAMES})


def _only(body: dict[str, Any]) -> tuple[str, ...]:
    raw = body.get("provider")
    if not isinstance(raw, dict) or not isinstance(raw.get("only"), list):
        return ()
    return tuple(s for s in raw["only"] if isinstance(s, str))


def _providers(key: ApiKey, body: dict[str, Any]) -> list[UserProvider] | None:
    """The caller's providers this request names (None: not self-routed)."""
    only = _only(body)
    mine = list(dict.fromkeys(s for s in only if s.startswith(SLUG_PREFIX)))
    if only and mine:
        if any(not s.startswith(SLUG_PREFIX) for s in only):
            raise invalid(
                "provider.only",
                "provider.only may not mix your own providers (my-…) with the gateway's",
            )
        found = {p.slug: p for p in UserProvider.objects.filter(user_id=key.user_id, slug__in=mine)}
        return [found[s] for s in mine if s in found]
    if not only and key.self_route_provider_id is not None:
        return list(UserProvider.objects.filter(pk=key.self_route_provider_id, user_id=key.user_id))
    return None


def self_route_apply(
    key: ApiKey, body: dict[str, Any], models: list[ResolvedModel]
) -> list[ResolvedModel]:
    """``models`` as this request may be served: unchanged unless self-routed, else each with
    only the caller's named providers as routes and its prices scaled to the fee."""
    providers = _providers(key, body)
    if providers is None:
        return models
    keys: list[tuple[UserProvider, str]] = []
    for provider in providers:
        try:
            keys.append((provider, provider_key_decrypt(provider.key_encrypted)))
        except ProviderKeyUnreadable as exc:
            raise ApiError(
                503,
                "provider_not_configured",
                f"The key of your provider {provider.slug} can no longer be read; set it again "
                "in the console",
            ) from exc
    percent = Decimal(settings.GATEWAY_SELF_ROUTE_FEE_PERCENT)
    return [
        dataclasses.replace(
            model,
            routes=tuple(route_for(p, model, k) for p, k in keys),
            prices=prices_scaled(model.prices, percent),
        )
        for model in models
    ]
