"""Media pricing: a media model is priced by its units only (no fallback token prices), the
estimate a task holds and the cost it settles, exact to the credit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.pricing import Usage
from catalog.models import Model
from catalog.selectors import ResolvedModel, catalog_invalidate, model_resolve
from config.errors import ApiError
from gateway.media.pricing import (
    media_cost,
    media_estimate,
    prices_of,
    text_estimate,
    usage_json,
    usage_of,
)


def _model(public_id: str, outputs: list[str], **prices: str) -> ResolvedModel:
    Model.objects.create(
        public_id=public_id,
        name=public_id,
        output_modalities=outputs,
        **{f"price_{unit}": Decimal(usd) for unit, usd in prices.items()},
    )
    catalog_invalidate()
    resolved = model_resolve(name=public_id)
    assert resolved is not None
    return resolved


@pytest.mark.django_db
def test_media_model_without_token_prices_gets_no_fallback() -> None:
    # given an image model and a text model, neither setting token prices
    image = _model("acme/pic", ["image"], image="0.04")
    text = _model("acme/words", ["text"])
    # then the image model's token prices are zero; the text model's the fallback settings
    assert (image.prices.prompt, image.prices.completion, image.prices.cache_read) == (0, 0, 0)
    assert (text.prices.prompt, text.prices.completion) == (Decimal("0.05"), Decimal("0.20"))
    # and tokens a media provider reports are not billed
    cost = media_cost(image.prices, Usage(images=2, prompt_tokens=5000, completion_tokens=900))
    assert cost.total == 80_000
    assert dict(cost.amounts) == {"image": Decimal("80000")}


@pytest.mark.django_db
def test_media_model_with_token_prices_bills_them() -> None:
    model = _model("acme/pic-tok", ["image"], image="0.04", prompt="2", completion="8")
    cost = media_cost(model.prices, Usage(images=1, prompt_tokens=100, completion_tokens=10))
    # 40,000 (image) + 100 x 2 + 10 x 8
    assert cost.total == 40_280


@pytest.mark.django_db
def test_image_estimate_is_images_times_price_plus_request() -> None:
    model = _model("acme/pic2", ["image"], image="0.04", request="0.001")
    assert media_estimate(model, kind="image", n=3) == 3 * 40_000 + 1_000
    assert media_estimate(model, kind="image") == 41_000


@pytest.mark.django_db
def test_video_estimate_is_exact_decimal_rounded_up() -> None:
    # 12,345.7 credits a second x 3.3 s = 40,740.81 -> 40,741
    model = _model("acme/vid", ["video"], video_second="0.0123457")
    assert media_estimate(model, kind="video", duration=3.3) == 40_741
    assert media_cost(model.prices, Usage(video_seconds=Decimal("3.3"))).total == 40_741
    assert media_estimate(model, kind="video", duration=4) == 49_383  # 49,382.8
    with pytest.raises(ApiError) as err:
        media_estimate(model, kind="video")
    assert (err.value.status, err.value.code, err.value.param) == (
        400,
        "invalid_parameter",
        "duration",
    )


@pytest.mark.django_db
def test_music_estimate_defaults_and_minimum_charge(settings) -> None:
    model = _model("acme/song", ["audio"], audio_second="0.000125")  # 125 credits a second
    settings.GATEWAY_MUSIC_DEFAULT_SECONDS = 30.0
    assert media_estimate(model, kind="music") == 3_750
    assert media_estimate(model, kind="music", duration=12) == 1_500
    # 0.5 s is 62.5 credits: rounded up to 63, then raised to BILLING_MIN_CHARGE
    settings.BILLING_MIN_CHARGE = 100
    assert media_estimate(model, kind="music", duration=0.5) == 100
    settings.BILLING_MIN_CHARGE = 50
    assert media_estimate(model, kind="music", duration=0.5) == 63


@pytest.mark.django_db
def test_free_media_model_costs_nothing() -> None:
    model = _model("acme/free-pic", ["image"])
    assert model.prices.is_free
    assert media_estimate(model, kind="image", n=4) == 0
    assert media_cost(model.prices, Usage(images=4, prompt_tokens=10)).total == 0


@pytest.mark.django_db
def test_prompt_bytes_held_only_for_a_model_pricing_prompt_tokens() -> None:
    priced = _model("acme/pic-p", ["image"], image="0.01", prompt="3")
    unpriced = _model("acme/pic-np", ["image"], image="0.01")
    # "héllo" is 6 UTF-8 bytes: 6 x 3 credits on top of 10,000
    assert media_estimate(priced, kind="image", prompt="héllo") == 10_018
    assert media_estimate(unpriced, kind="image", prompt="héllo") == 10_000


@pytest.mark.django_db
def test_text_estimate_from_prompt_and_max_tokens() -> None:
    model = _model("acme/txt", ["text"], prompt="1.5", completion="6.25")
    # {"prompt":"hello world"} is 24 bytes (the model and max_tokens do not count)
    body = {"model": "acme/txt", "prompt": "hello world", "max_tokens": 1000}
    assert text_estimate(model, body) == 36 + 6_250


def test_price_snapshot_and_usage_round_trip() -> None:
    from catalog.units import Prices

    prices = Prices(image=Decimal("40000"), video_second=Decimal("12345.7"))
    assert prices_of(prices.as_dict()) == prices
    usage = Usage(images=2, video_seconds=Decimal("2.50"), prompt_tokens=7)
    data = usage_json(usage)
    assert data == {"images": 2, "prompt_tokens": 7, "video_seconds": "2.5"}
    assert usage_of(data) == Usage(images=2, video_seconds=Decimal("2.5"), prompt_tokens=7)
