"""Writes to the registry: the JSON catalog import (idempotent, matched on slug / id).

Format::

    {"providers": [{"slug", "dialect", "base_url", "api_key_env", "name"?}],
     "models": [{"id", "name", "aliases": [], "input_modalities": [], "output_modalities": [],
                 "context_length", "max_output_tokens", "supported_parameters"?,
                 "description"?, "enabled"?,
                 "pricing": {"prompt", "completion", "request", "image", "cache_read"?,
                             "cache_write"?, "video_second"?, "audio_second"?},
                 "routes": [{"provider", "upstream_model", "priority", "weight",
                             "enabled"?}]}]}

A provider's ``api_key_env`` must pass ``catalog.validators`` (never one of the gateway's own
settings) and its ``base_url`` must be an http(s) URL, or nothing is imported.

Prices are decimal strings, one per unit of ``catalog.units.PRICE_UNITS``: USD per 1M tokens
(prompt, completion, cache_read, cache_write), USD per request, per image, per second of
video or audio. A missing or null price is stored as null (the unit's fallback); export
writes the units that were always there, and the others only when set. Routes of a model not
named in the file are disabled, not deleted (their generations keep pointing at them).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction

from catalog.models import Model, ModelAlias, Provider, Route
from catalog.selectors import catalog_invalidate
from catalog.units import PRICE_UNITS
from catalog.validators import api_key_env_refusal


class CatalogError(ValueError):
    pass


@dataclass
class ImportReport:
    providers: int = 0
    models: int = 0
    routes: int = 0
    aliases: int = 0


def _price(value: Any, where: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        price = Decimal(str(value))
    except InvalidOperation as exc:
        raise CatalogError(f"{where}: not a decimal: {value!r}") from exc
    if price < 0 or not price.is_finite():
        raise CatalogError(f"{where}: must be >= 0")
    return price


def _require(item: dict[str, Any], name: str, where: str) -> Any:
    if name not in item or item[name] in (None, ""):
        raise CatalogError(f"{where}: '{name}' is required")
    return item[name]


def _provider_target(item: dict[str, Any], where: str) -> tuple[str, str]:
    """(base_url, api_key_env) of a provider entry, refused unless both are allowed."""
    base_url, key_env = item.get("base_url") or "", item.get("api_key_env") or ""
    if not isinstance(key_env, str):
        raise CatalogError(f"{where}.api_key_env: not a string")
    refusal = api_key_env_refusal(key_env)
    if refusal is not None:
        raise CatalogError(f"{where}.api_key_env: {key_env} {refusal}")
    if base_url:
        try:
            URLValidator(schemes=["http", "https"])(base_url)
        except ValidationError as exc:
            raise CatalogError(f"{where}.base_url: not an http(s) URL: {base_url!r}") from exc
    return base_url, key_env


@transaction.atomic
def catalog_import(*, data: dict[str, Any]) -> ImportReport:
    if not isinstance(data, dict):
        raise CatalogError("the catalog must be a JSON object")
    report = ImportReport()
    dialects = {c.value for c in Provider.Dialect}
    for i, item in enumerate(data.get("providers") or []):
        where = f"providers[{i}]"
        slug = _require(item, "slug", where)
        dialect = _require(item, "dialect", where)
        if dialect not in dialects:
            raise CatalogError(f"{where}: dialect must be one of {sorted(dialects)}")
        base_url, key_env = _provider_target(item, where)
        Provider.objects.update_or_create(
            slug=slug,
            defaults={
                "dialect": dialect,
                "base_url": base_url,
                "api_key_env": key_env,
                "name": item.get("name") or "",
                "is_enabled": bool(item.get("enabled", True)),
            },
        )
        report.providers += 1
    for i, item in enumerate(data.get("models") or []):
        _model_import(item, f"models[{i}]", report)
    transaction.on_commit(catalog_invalidate)
    return report


def _model_import(item: dict[str, Any], where: str, report: ImportReport) -> None:
    public_id = _require(item, "id", where)
    pricing = item.get("pricing") or {}
    defaults: dict[str, Any] = {
        "name": item.get("name") or public_id,
        "description": item.get("description") or "",
        "input_modalities": item.get("input_modalities") or ["text"],
        "output_modalities": item.get("output_modalities") or ["text"],
        "context_length": int(item.get("context_length") or 128_000),
        "max_output_tokens": int(item.get("max_output_tokens") or 16_384),
        "supported_parameters": item.get("supported_parameters") or [],
        "is_enabled": bool(item.get("enabled", True)),
    }
    if not isinstance(pricing, dict):
        raise CatalogError(f"{where}.pricing: must be an object")
    for unit in PRICE_UNITS:
        key = unit.catalog_key
        defaults[unit.column] = _price(pricing.get(key), f"{where}.pricing.{key}")
    model, _ = Model.objects.update_or_create(public_id=public_id, defaults=defaults)
    report.models += 1
    for alias in item.get("aliases") or []:
        owner = ModelAlias.objects.filter(alias=alias).exclude(model=model).first()
        if owner is not None:
            raise CatalogError(f"{where}: alias {alias!r} already names {owner.model}")
        ModelAlias.objects.get_or_create(model=model, alias=alias)
        report.aliases += 1
    ModelAlias.objects.filter(model=model).exclude(alias__in=item.get("aliases") or []).delete()
    kept: list[int] = []
    for j, route in enumerate(item.get("routes") or []):
        rwhere = f"{where}.routes[{j}]"
        provider = Provider.objects.filter(slug=_require(route, "provider", rwhere)).first()
        if provider is None:
            raise CatalogError(f"{rwhere}: unknown provider {route['provider']!r}")
        obj, _ = Route.objects.update_or_create(
            model=model,
            provider=provider,
            upstream_model=_require(route, "upstream_model", rwhere),
            defaults={
                "priority": int(route.get("priority") or 0),
                "weight": int(route.get("weight", 1)),
                "is_enabled": bool(route.get("enabled", True)),
            },
        )
        kept.append(obj.pk)
        report.routes += 1
    Route.objects.filter(model=model).exclude(pk__in=kept).update(is_enabled=False)


def catalog_export() -> dict[str, Any]:
    providers = [
        {
            "slug": p.slug,
            "name": p.name,
            "dialect": p.dialect,
            "base_url": p.base_url,
            "api_key_env": p.api_key_env,
            "enabled": p.is_enabled,
        }
        for p in Provider.objects.order_by("slug")
    ]
    models = []
    for m in Model.objects.prefetch_related("aliases", "routes__provider").order_by("public_id"):
        pricing = {}
        for unit in PRICE_UNITS:
            price = getattr(m, unit.column)
            if price is not None or unit.is_always_listed:
                pricing[unit.catalog_key] = None if price is None else str(price)
        models.append(
            {
                "id": m.public_id,
                "name": m.name,
                "description": m.description,
                "aliases": sorted(a.alias for a in m.aliases.all()),
                "input_modalities": m.input_modalities,
                "output_modalities": m.output_modalities,
                "context_length": m.context_length,
                "max_output_tokens": m.max_output_tokens,
                "supported_parameters": m.supported_parameters,
                "enabled": m.is_enabled,
                "pricing": pricing,
                "routes": [
                    {
                        "provider": r.provider.slug,
                        "upstream_model": r.upstream_model,
                        "priority": r.priority,
                        "weight": r.weight,
                        "enabled": r.is_enabled,
                    }
                    for r in m.routes.all()
                ],
            }
        )
    return {"providers": providers, "models": models}
