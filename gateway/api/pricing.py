"""``GET /v1/pricing`` (public, no key): every enabled model's prices per unit, the fallback
token prices and the minimum charge.

Shape (every amount is exact decimal text, never a float)::

    {"object": "pricing",
     "credits_per_usd": 1000000,
     "minimum_charge": {"credits": 100, "usd": "0.0001"},
     "fallback": {"prompt": {"unit": "token", "credits": "0.05", "usd": "0.00000005",
                             "usd_per_million": "0.05"},
                  "completion": {...}},
     "data": [{"id": "openai/gpt-5.5", "name": "...", "is_free": false,
               "prices": {"prompt": {"unit": "token", "credits": "1.25",
                                     "usd": "0.00000125", "usd_per_million": "1.25"},
                          "request": {"unit": "request", "credits": "0", "usd": "0"}, ...}}]}

``prices`` holds the units ``/v1/models`` shows (those always listed, and any other the
model prices), keyed as there (``prompt``, ``completion``, ``input_cache_read``, ...), each
at the price a request is charged: the registry's price, or the unit's fallback where the
registry has none (a text model's null token price is the fallback setting). ``credits`` is
credits per token or per unit (1,000,000 credits = 1 USD), ``usd`` the same in USD; a token
unit adds ``usd_per_million``. ``minimum_charge`` is what a priced request costs at least
(``BILLING_MIN_CHARGE``); a free model (every price zero) charges nothing. Models come from
the catalog snapshot, sorted by id; a disabled model is not listed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.http import HttpResponse
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.views import APIView

from catalog.selectors import model_list
from catalog.units import PRICE_UNITS, PriceUnit, decimal_text
from config.money import CREDITS_PER_USD, credits_to_usd
from gateway.api.base import json_response

_UNIT_NAMES = {"request": "request", "image": "image"}  # the others: token or second


def unit_price(unit: PriceUnit, credits: Decimal) -> dict[str, str]:
    """One price: credits and USD per token or per unit, exact."""
    kind = "token" if unit.is_per_token else _UNIT_NAMES.get(unit.name, "second")
    entry = {
        "unit": kind,
        "credits": decimal_text(credits),
        "usd": decimal_text(credits_to_usd(credits)),
    }
    if unit.is_per_token:
        # credits per token are USD per 1M tokens: the same number (config.money)
        entry["usd_per_million"] = decimal_text(credits)
    return entry


def pricing_document() -> dict[str, Any]:
    fallback = {
        unit.api_key: unit_price(unit, Decimal(getattr(settings, unit.fallback_setting)))
        for unit in PRICE_UNITS
        if unit.fallback_setting
    }
    minimum = settings.BILLING_MIN_CHARGE
    models = sorted(model_list(), key=lambda m: m.public_id)
    return {
        "object": "pricing",
        "credits_per_usd": CREDITS_PER_USD,
        "minimum_charge": {"credits": minimum, "usd": decimal_text(credits_to_usd(minimum))},
        "fallback": fallback,
        "data": [
            {
                "id": m.public_id,
                "name": m.name,
                "is_free": m.prices.is_free,
                "prices": {unit.api_key: unit_price(unit, p) for unit, p in m.prices.listed()},
            }
            for m in models
        ],
    }


class PricingView(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> HttpResponse:
        return json_response(pricing_document())
