"""billing.pricing: cost and hold bounds in credits (1,000,000 credits = 1 USD)."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from billing.pricing import Usage, affordable_completion_tokens, cost_compute, hold_bound
from catalog.selectors import Prices


def prices(
    prompt: str = "1.5",
    completion: str = "6.25",
    cache_read: str | None = None,
    request: str = "0",
    image: str = "0",
) -> Prices:
    return Prices(
        prompt=Decimal(prompt),
        completion=Decimal(completion),
        cache_read=Decimal(prompt if cache_read is None else cache_read),
        request=Decimal(request),
        image=Decimal(image),
    )


FREE = prices("0", "0", "0", "0", "0")


@pytest.fixture(autouse=True)
def _min_charge(settings) -> None:
    settings.BILLING_MIN_CHARGE = 100


def test_cost_rounds_up_to_whole_credits():
    # 100 x 1.5 + 3 x 6.25 = 168.75 credits
    cost = cost_compute(usage=Usage(prompt_tokens=100, completion_tokens=3), prices=prices())
    assert cost.total == 169
    assert (cost.prompt, cost.completion) == (Decimal("150.0"), Decimal("18.75"))


def test_cost_exactly_whole_is_not_rounded_up():
    # 200 x 1.5 + 16 x 6.25 = 400 exactly
    cost = cost_compute(usage=Usage(prompt_tokens=200, completion_tokens=16), prices=prices())
    assert cost.total == 400


def test_cost_is_never_below_the_minimum_charge(settings):
    # 10 x 1.5 + 4 x 6.25 = 40 credits, below the minimum of 100
    usage = Usage(prompt_tokens=10, completion_tokens=4)
    assert cost_compute(usage=usage, prices=prices()).total == 100
    assert cost_compute(usage=Usage(), prices=prices()).total == 100
    settings.BILLING_MIN_CHARGE = 7
    assert cost_compute(usage=usage, prices=prices()).total == 40


def test_a_free_model_charges_nothing():
    usage = Usage(prompt_tokens=10_000, completion_tokens=5_000, cached_tokens=100, images=2)
    assert cost_compute(usage=usage, prices=FREE).total == 0
    assert hold_bound(prompt_tokens=10_000, completion_tokens=5_000, prices=FREE) == 0


def test_a_model_with_only_a_request_price_is_not_free():
    # 0.0002 USD a request = 200 credits; tokens are free
    model = prices("0", "0", "0", request="200")
    cost = cost_compute(usage=Usage(prompt_tokens=50, completion_tokens=50), prices=model)
    assert cost.total == 200
    assert cost.request == Decimal(200)


def test_cached_prompt_tokens_are_priced_at_the_cache_read_price():
    # 1,000 prompt tokens of which 400 cached: 600 x 1.5 + 400 x 0.15 + 10 x 6.25 = 1022.5
    usage = Usage(prompt_tokens=1_000, completion_tokens=10, cached_tokens=400)
    cost = cost_compute(usage=usage, prices=prices(cache_read="0.15"))
    assert cost.total == 1023
    assert cost.cache_read == Decimal("60.00")
    assert cost.breakdown() == {  # as plain decimal text
        "prompt": "900",
        "cache_read": "60",
        "completion": "62.5",
        "request": "0",
        "image": "0",
    }


def test_cached_tokens_beyond_the_prompt_are_capped():
    # a provider reporting more cached than prompt tokens never makes the prompt negative
    usage = Usage(prompt_tokens=200, completion_tokens=0, cached_tokens=500)
    cost = cost_compute(usage=usage, prices=prices(prompt="10", cache_read="1"))
    assert (cost.prompt, cost.cache_read, cost.total) == (Decimal(0), Decimal(200), 200)


def test_images_and_request_price_add_up():
    # 1 image at 40,000 credits + a request at 1,000 + 10 x 2 prompt tokens
    model = prices("2", "0", request="1000", image="40000")
    cost = cost_compute(usage=Usage(prompt_tokens=10, images=1), prices=model)
    assert cost.total == 41_020


def test_hold_bound_is_the_documented_formula():
    # 35 prompt bytes x 1.5 + 50 x 6.25 = 365 credits
    assert hold_bound(prompt_tokens=35, completion_tokens=50, prices=prices()) == 365
    # rounded up, and never below the minimum
    assert hold_bound(prompt_tokens=1, completion_tokens=1, prices=prices()) == 100
    assert hold_bound(prompt_tokens=3, completion_tokens=17, prices=prices()) == math.ceil(
        3 * 1.5 + 17 * 6.25
    )


def test_hold_bound_ignores_the_cache_discount():
    cheap_cache = prices(cache_read="0.01")
    assert hold_bound(prompt_tokens=1_000, completion_tokens=0, prices=cheap_cache) == 1_500


def test_affordable_completion_tokens_fit_the_budget():
    # budget 1,000; prompt 100 x 1.5 = 150 leaves 850 = 136 x 6.25 (+ 0.0)
    n = affordable_completion_tokens(budget=1_000, prompt_tokens=100, prices=prices())
    assert n == 136
    assert hold_bound(prompt_tokens=100, completion_tokens=136, prices=prices()) == 1_000
    assert hold_bound(prompt_tokens=100, completion_tokens=137, prices=prices()) > 1_000


def test_affordable_completion_tokens_is_zero_when_nothing_fits():
    # below the minimum charge, or the prompt alone exceeds the budget
    assert affordable_completion_tokens(budget=99, prompt_tokens=1, prices=prices()) == 0
    assert affordable_completion_tokens(budget=1_000, prompt_tokens=700, prices=prices()) == 0
    assert affordable_completion_tokens(budget=0, prompt_tokens=0, prices=prices()) == 0


def test_affordable_completion_tokens_unbounded_when_completion_is_free():
    assert affordable_completion_tokens(budget=0, prompt_tokens=10, prices=FREE) >= 1 << 30


@hypothesis_settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    budget=st.integers(min_value=0, max_value=10**9),
    prompt_tokens=st.integers(min_value=0, max_value=10**6),
    prompt=st.decimals(min_value="0", max_value="100", places=3),
    completion=st.decimals(min_value="0.001", max_value="500", places=3),
    request=st.decimals(min_value="0", max_value="1000", places=2),
)
def test_affordable_completion_tokens_is_the_most_that_fits(
    budget, prompt_tokens, prompt, completion, request
):
    model = Prices(
        prompt=prompt, completion=completion, cache_read=prompt, request=request, image=Decimal(0)
    )
    n = affordable_completion_tokens(budget=budget, prompt_tokens=prompt_tokens, prices=model)
    # n tokens fit (their hold is within the budget) and one more would not
    if n > 0:
        assert hold_bound(prompt_tokens=prompt_tokens, completion_tokens=n, prices=model) <= budget
    assert hold_bound(prompt_tokens=prompt_tokens, completion_tokens=n + 1, prices=model) > budget
