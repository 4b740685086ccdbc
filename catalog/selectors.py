"""Reads of the registry. The hot path reads a per-process snapshot of the whole catalog.

Every change to the registry bumps ``CatalogRevision`` (signals, admin actions, import).
A process checks that one number at most every ``GATEWAY_CATALOG_TTL_SECONDS`` and rebuilds
its snapshot only when it moved, so an admin's change reaches every process within that
time, and the request path costs no query at all in between.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db.models import F

from catalog.models import CatalogRevision, Model, Route
from catalog.units import PRICE_UNITS, ZERO, Prices, decimal_text, is_media
from config.money import usd_per_million_to_credits, usd_per_unit_to_credits

# Prices and decimal_text live in catalog.units and are read from here too.
__all__ = [
    "Prices",
    "ResolvedModel",
    "RouteInfo",
    "catalog_invalidate",
    "decimal_text",
    "model_list",
    "model_resolve",
]


@dataclass(frozen=True, slots=True)
class RouteInfo:
    id: int
    provider_slug: str
    provider_name: str
    dialect: str
    base_url: str
    api_key_env: str
    upstream_model: str
    priority: int
    weight: int
    # A user's own provider (gateway.self_route): its key, decrypted for this request only
    # (never in a repr), and a base URL that must pass the outbound address guard.
    api_key: str = field(default="", repr=False)
    is_user: bool = False


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    id: int
    public_id: str
    name: str
    description: str
    is_enabled: bool
    context_length: int
    max_output_tokens: int
    input_modalities: tuple[str, ...]
    output_modalities: tuple[str, ...]
    supported_parameters: tuple[str, ...]
    prices: Prices
    routes: tuple[RouteInfo, ...] = field(default=())
    created: int = 0


@dataclass(slots=True)
class _Snapshot:
    by_name: dict[str, ResolvedModel]
    models: list[ResolvedModel]
    checked_at: float
    revision: int


_lock = threading.Lock()
_snapshot: _Snapshot | None = None


def _prices(model: Model) -> Prices:
    """The model's prices in credits per token or per unit, each null one resolved by its
    unit's fallback (a setting, an earlier unit's price, or zero). A media model (one
    producing images, video or audio, ``catalog.units.is_media``) is priced by its units
    only: its null token prices are zero, not the fallback settings, so a token count its
    provider reports is billed only when the model sets token prices."""
    resolved: dict[str, Decimal] = {}
    media = is_media(model.output_modalities or ())
    for unit in PRICE_UNITS:
        usd = getattr(model, unit.column)
        if usd is not None:
            to_credits = (
                usd_per_million_to_credits if unit.is_per_token else usd_per_unit_to_credits
            )
            resolved[unit.name] = to_credits(usd)
        elif unit.fallback_setting and not media:
            resolved[unit.name] = getattr(settings, unit.fallback_setting)
        elif unit.fallback_unit:
            resolved[unit.name] = resolved[unit.fallback_unit]
        else:
            resolved[unit.name] = ZERO
    return Prices(**resolved)


def _resolve(model: Model, routes: list[Route]) -> ResolvedModel:
    prices = _prices(model)
    infos = tuple(
        RouteInfo(
            id=r.id,
            provider_slug=r.provider.slug,
            provider_name=r.provider.name or r.provider.slug,
            dialect=r.provider.dialect,
            base_url=r.provider.base_url.rstrip("/"),
            api_key_env=r.provider.api_key_env,
            upstream_model=r.upstream_model,
            priority=r.priority,
            weight=r.weight,
        )
        for r in routes
        if r.is_enabled and r.provider.is_enabled
    )
    return ResolvedModel(
        id=model.id,
        public_id=model.public_id,
        name=model.name,
        description=model.description,
        is_enabled=model.is_enabled,
        context_length=model.context_length,
        max_output_tokens=model.max_output_tokens,
        input_modalities=tuple(model.input_modalities or ("text",)),
        output_modalities=tuple(model.output_modalities or ("text",)),
        supported_parameters=tuple(model.supported_parameters or ()),
        prices=prices,
        routes=infos,
        created=int(model.created_at.timestamp()),
    )


def _revision() -> int:
    return CatalogRevision.objects.filter(pk=1).values_list("revision", flat=True).first() or 0


def _build(revision: int) -> _Snapshot:
    models = list(Model.objects.prefetch_related("aliases"))
    routes: dict[int, list[Route]] = {}
    for route in Route.objects.select_related("provider").order_by("-priority", "id"):
        routes.setdefault(route.model_id, []).append(route)
    by_name: dict[str, ResolvedModel] = {}
    resolved: list[ResolvedModel] = []
    for model in models:
        item = _resolve(model, routes.get(model.id, []))
        resolved.append(item)
        by_name[model.public_id] = item
    for model, item in zip(models, resolved, strict=True):
        for alias in model.aliases.all():
            by_name.setdefault(alias.alias, item)
    return _Snapshot(
        by_name=by_name, models=resolved, checked_at=time.monotonic(), revision=revision
    )


def _current() -> _Snapshot:
    global _snapshot
    snap = _snapshot
    now = time.monotonic()
    if snap is not None and now - snap.checked_at <= settings.GATEWAY_CATALOG_TTL_SECONDS:
        return snap
    with _lock:
        # Checked again under the lock: the requests that queued behind the one that just
        # checked the revision take its answer instead of asking the database each.
        snap = _snapshot
        if snap is not None and now - snap.checked_at <= settings.GATEWAY_CATALOG_TTL_SECONDS:
            return snap
        revision = _revision()
        if snap is not None and snap.revision == revision:
            snap.checked_at = now
            return snap
        snap = _build(revision)
        _snapshot = snap
    return snap


def catalog_invalidate() -> None:
    """The registry changed: tell every process (bump the revision) and drop this one's
    snapshot now."""
    global _snapshot
    _snapshot = None
    if not CatalogRevision.objects.filter(pk=1).update(revision=F("revision") + 1):
        CatalogRevision.objects.bulk_create(
            [CatalogRevision(pk=1, revision=1)], ignore_conflicts=True
        )


def model_resolve(*, name: str) -> ResolvedModel | None:
    """The model with this public id or alias, enabled or not; None if unknown."""
    return _current().by_name.get(name)


def model_list(*, output_modality: str | None = None) -> list[ResolvedModel]:
    """Enabled models, optionally those producing ``output_modality``."""
    return [
        m
        for m in _current().models
        if m.is_enabled and (output_modality is None or output_modality in m.output_modalities)
    ]
