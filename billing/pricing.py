"""Cost of a request, in credits, from a price snapshot (1,000,000 credits = 1 USD).

cost = ceil(uncached_prompt x prompt + cached x cache_read + completion x completion
            + images x image + request), and at least ``BILLING_MIN_CHARGE`` unless every
price of the model is zero (a free model charges nothing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from catalog.selectors import Prices, decimal_text


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    images: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class Cost:
    total: int
    prompt: Decimal
    cache_read: Decimal
    completion: Decimal
    request: Decimal
    image: Decimal

    def breakdown(self) -> dict[str, str]:
        return {
            "prompt": decimal_text(self.prompt),
            "cache_read": decimal_text(self.cache_read),
            "completion": decimal_text(self.completion),
            "request": decimal_text(self.request),
            "image": decimal_text(self.image),
        }


def _finish(raw: Decimal, prices: Prices) -> int:
    if prices.is_free:
        return 0
    return max(math.ceil(raw), settings.BILLING_MIN_CHARGE)


def cost_compute(*, usage: Usage, prices: Prices) -> Cost:
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    prompt = (usage.prompt_tokens - cached) * prices.prompt
    cache_read = cached * prices.cache_read
    completion = usage.completion_tokens * prices.completion
    image = usage.images * prices.image
    raw = prompt + cache_read + completion + image + prices.request
    return Cost(
        total=_finish(raw, prices),
        prompt=prompt,
        cache_read=cache_read,
        completion=completion,
        request=prices.request,
        image=image,
    )


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
