"""The public models page (``/models/``, no login): the enabled catalog, read from the same
selector as ``/v1/models`` (``catalog.selectors.model_list``), with each model's prices per
1M tokens or per unit, context length, modalities and providers, filtered by GET
parameters (``input``, ``output``, ``provider``) through a plain form that needs no
script. An unknown filter value is shown as an error next to its field and filters
nothing."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from catalog.forms_filter import ModelFilterForm
from catalog.selectors import ResolvedModel, model_list
from catalog.units import PriceUnit, decimal_text
from config.money import credits_to_usd


@dataclass(frozen=True, slots=True)
class PriceLine:
    """One price as the page prints it: ``1.32`` USD per 1M tokens, or ``0.04`` USD per
    image. ``api_key`` is the unit's key in ``/v1/models`` ``pricing``."""

    api_key: str
    label: str
    usd: str
    per: str


@dataclass(frozen=True, slots=True)
class ModelCard:
    model: ResolvedModel
    prices: tuple[PriceLine, ...]
    providers: tuple[tuple[str, str], ...]

    @property
    def context(self) -> str:
        return f"{self.model.context_length:,}"

    @property
    def is_free(self) -> bool:
        return self.model.prices.is_free


def _price_line(unit: PriceUnit, credits: Decimal) -> PriceLine:
    """Credits per token are USD per 1M tokens (the same number); credits per unit are
    divided by 1,000,000 for USD per unit."""
    label = unit.name.replace("_", " ")
    if unit.is_per_token:
        return PriceLine(unit.api_key, label, decimal_text(credits), "1M tokens")
    return PriceLine(unit.api_key, label, decimal_text(credits_to_usd(credits)), label)


def _card(model: ResolvedModel) -> ModelCard:
    providers = {r.provider_slug: r.provider_name for r in model.routes}
    return ModelCard(
        model=model,
        prices=tuple(_price_line(unit, price) for unit, price in model.prices.listed()),
        providers=tuple(sorted(providers.items())),
    )


def models_page(request: HttpRequest) -> HttpResponse:
    cards = [_card(m) for m in model_list()]
    form = ModelFilterForm(request.GET, cards=cards)
    shown = form.apply(cards)
    context = {
        "form": form,
        "cards": shown,
        "total": len(cards),
        "site_name": settings.GATEWAY_SITE_NAME,
    }
    return render(request, "catalog/models.html", context)
