"""Cost of a request, in credits, from a price snapshot (1,000,000 credits = 1 USD).

cost = ceil(sum over the units the model prices of quantity x price), and at least
``BILLING_MIN_CHARGE`` unless every price of the model is zero (a free model charges
nothing). The quantities, per unit of ``catalog.units.PRICE_UNITS``:

- prompt: prompt tokens not read from the cache (nor written to it, when the model prices
  cache writes; otherwise those are prompt tokens);
- cache_read / cache_write: prompt tokens read from / written to the provider's cache;
- completion: completion tokens; request: one; image: images;
- video_second / audio_second: seconds of video / audio produced or consumed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings

from catalog.units import UNIT_NAMES, ZERO, Prices, decimal_text, listed_units


@dataclass(frozen=True, slots=True)
class Usage:
    """What a request consumed. Token counts are whole; seconds may be fractional
    (``Decimal``). ``cached_tokens`` and ``cache_write_tokens`` are part of
    ``prompt_tokens``."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    images: int = 0
    cache_write_tokens: int = 0
    video_seconds: int | Decimal = 0
    audio_seconds: int | Decimal = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def _quantities(usage: Usage, prices: Prices) -> dict[str, int | Decimal]:
    """How many of each unit ``usage`` consumed, by unit name, in the order a cost's
    breakdown lists them (the prompt's parts first)."""
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    written = (
        min(usage.cache_write_tokens, usage.prompt_tokens - cached) if prices.cache_write else 0
    )
    return {
        "prompt": usage.prompt_tokens - cached - written,
        "cache_read": cached,
        "cache_write": written,
        "completion": usage.completion_tokens,
        "request": 1,
        "image": usage.images,
        "video_second": usage.video_seconds,
        "audio_second": usage.audio_seconds,
    }


_ORDER = tuple(_quantities(Usage(), Prices()))
if set(_ORDER) != set(UNIT_NAMES):  # a unit without a quantity
    raise RuntimeError("billing.pricing: every price unit needs a quantity in _quantities")
# A breakdown's text before its amounts are filled in, one per set of units shown.
_BLANKS: dict[tuple[str, ...], dict[str, str]] = {}


def _blank(shown: tuple[str, ...]) -> dict[str, str]:
    blank = _BLANKS.get(shown)
    if blank is None:
        blank = _BLANKS.setdefault(shown, dict.fromkeys((n for n in _ORDER if n in shown), "0"))
    return blank


@dataclass(frozen=True, slots=True)
class Cost:
    """``total`` in whole credits; ``amounts`` the unrounded credits of each unit the model
    prices (by unit name). Each unit is also an attribute: ``cost.prompt``, zero when the
    model does not price it."""

    total: int
    amounts: Mapping[str, Decimal]
    blank: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def amount(self, unit: str) -> Decimal:
        return self.amounts.get(unit, ZERO)

    def breakdown(self) -> dict[str, str]:
        """As plain decimal text: the units always listed, and any other the model prices."""
        text = dict(self.blank or _blank(listed_units(tuple(self.amounts))))
        for name, amount in self.amounts.items():
            if amount:  # a zero is already "0"
                text[name] = decimal_text(amount)
        return text


for _name in UNIT_NAMES:
    setattr(Cost, _name, property(lambda cost, name=_name: cost.amount(name)))
del _name


def _finish(raw: Decimal, prices: Prices) -> int:
    if prices.is_free:
        return 0
    return max(math.ceil(raw), settings.BILLING_MIN_CHARGE)


def cost_compute(*, usage: Usage, prices: Prices) -> Cost:
    quantity = _quantities(usage, prices)
    amounts: dict[str, Decimal] = {}
    raw = ZERO
    for unit, price in prices.present:  # only the units the model prices
        amounts[unit] = amount = quantity[unit] * price
        raw += amount
    return Cost(total=_finish(raw, prices), amounts=amounts, blank=_blank(prices.shown))


def hold_bound(*, prompt_tokens: int, completion_tokens: int, prices: Prices) -> int:
    """Upper bound of the cost for at most these tokens (no cache discount assumed)."""
    raw = prompt_tokens * prices.prompt + completion_tokens * prices.completion + prices.request
    return _finish(raw, prices)


def affordable_completion_tokens(*, budget: int, prompt_tokens: int, prices: Prices) -> int:
    """The most completion tokens whose bound fits in ``budget`` credits (0 if none)."""
    if prices.completion <= 0:
        return 1 << 30
    left = Decimal(budget) - prompt_tokens * prices.prompt - prices.request
    if left <= 0 or budget < settings.BILLING_MIN_CHARGE:
        return 0
    return int(left / prices.completion)
