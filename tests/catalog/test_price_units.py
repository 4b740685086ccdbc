"""Price units: a model priced per second of video and of audio, through the catalog JSON,
the snapshot, ``/v1/models`` and the cost; every unit of ``PRICE_UNITS`` is stored, read
and charged."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from django.test import Client

from billing.pricing import Usage, cost_compute
from catalog.models import Model
from catalog.selectors import catalog_invalidate, model_resolve
from catalog.services import catalog_export, catalog_import
from catalog.units import PRICE_UNITS, Prices

LEGACY_KEYS = ["prompt", "completion", "input_cache_read", "request", "image"]
MEDIA = {
    "providers": [{"slug": "media", "dialect": "openai", "base_url": "https://media.example"}],
    "models": [
        {
            "id": "acme/clip",
            "name": "Clip",
            "output_modalities": ["video", "audio"],
            "pricing": {
                "prompt": "0.5",
                "completion": "0",
                "video_second": "0.05",  # 50,000 credits a second
                "audio_second": "0.000125",  # 125 credits a second
            },
            "routes": [{"provider": "media", "upstream_model": "clip-1"}],
        },
        {
            "id": "acme/text",
            "name": "Text",
            "pricing": {"prompt": "1.32", "completion": "7.92"},
            "routes": [{"provider": "media", "upstream_model": "text-1"}],
        },
    ],
}


@pytest.fixture
def media(db: None) -> None:
    catalog_import(data=MEDIA)
    catalog_invalidate()


def _listed(client: Client) -> dict[str, dict]:
    return {m["id"]: m for m in client.get("/v1/models").json()["data"]}


def test_video_and_audio_prices_round_trip_through_export_and_import(media: None) -> None:
    # given a model priced per second of video and of audio
    model = Model.objects.get(public_id="acme/clip")
    assert (model.price_video_second, model.price_audio_second) == (
        Decimal("0.05"),
        Decimal("0.000125"),
    )
    # when the registry is exported, emptied and imported again from the export
    exported = catalog_export()
    clip = next(m for m in exported["models"] if m["id"] == "acme/clip")
    text = next(m for m in exported["models"] if m["id"] == "acme/text")
    Model.objects.all().delete()
    catalog_import(data=exported)
    # then the prices are the same; a model without them exports the five keys it always had
    assert {k: Decimal(v) for k, v in clip["pricing"].items() if v is not None} == {
        "prompt": Decimal("0.5"),
        "completion": Decimal(0),
        "video_second": Decimal("0.05"),
        "audio_second": Decimal("0.000125"),
    }
    assert list(text["pricing"]) == ["prompt", "completion", "cache_read", "request", "image"]
    again = Model.objects.get(public_id="acme/clip")
    assert (again.price_video_second, again.price_audio_second, again.price_cache_write) == (
        Decimal("0.05"),
        Decimal("0.000125"),
        None,
    )


def test_v1_models_lists_video_and_audio_prices_only_where_set(media: None) -> None:
    # when a client lists the models
    listed = _listed(Client())
    clip, text = listed["acme/clip"], listed["acme/text"]
    # then the media model shows its per-second prices after the usual five
    assert clip["pricing"] == {
        "prompt": "0.0000005",
        "completion": "0",
        "input_cache_read": "0.0000005",
        "request": "0",
        "image": "0",
        "video_second": "0.05",
        "audio_second": "0.000125",
    }
    credits = {k: v for k, v in clip["pricing_credits"].items() if k != "unit"}
    assert credits == {
        "prompt": "0.5",
        "completion": "0",
        "input_cache_read": "0.5",
        "request": "0",
        "image": "0",
        "video_second": "50000",
        "audio_second": "125",
    }
    # and a model without them keeps exactly the keys it had
    assert list(text["pricing"]) == LEGACY_KEYS
    assert list(text["pricing_credits"]) == ["unit", *LEGACY_KEYS]


def test_seconds_of_video_and_audio_cost_price_times_quantity(media: None, settings) -> None:
    settings.BILLING_MIN_CHARGE = 1
    prices = model_resolve(name="acme/clip").prices
    # given 8 seconds of video at 50,000 and 12.5 seconds of audio at 125, and 10 prompt
    # tokens at 0.5: 400,000 + 1,562.5 + 5 = 401,567.5 credits
    usage = Usage(prompt_tokens=10, video_seconds=8, audio_seconds=Decimal("12.5"))
    cost = cost_compute(usage=usage, prices=prices)
    # then the cost is that, rounded up to a whole credit as every cost is
    assert cost.total == math.ceil(Decimal("401567.5")) == 401_568
    assert (cost.video_second, cost.audio_second) == (Decimal(400_000), Decimal("1562.5"))
    assert cost.breakdown() == {
        "prompt": "5",
        "completion": "0",
        "cache_read": "0",
        "request": "0",
        "image": "0",
        "video_second": "400000",
        "audio_second": "1562.5",
    }
    # in the order a breakdown always had (the prompt's parts first), the new units last
    assert list(cost.breakdown())[:5] == ["prompt", "cache_read", "completion", "request", "image"]
    # and the record's price snapshot names the per-second prices too
    assert prices.as_dict() == {
        "prompt": "0.5",
        "completion": "0",
        "cache_read": "0.5",
        "request": "0",
        "image": "0",
        "video_second": "50000",
        "audio_second": "125",
    }
    # whole seconds exactly: one second is 50,000 credits, nothing more
    assert cost_compute(usage=Usage(video_seconds=1), prices=prices).total == 50_000


def test_a_model_without_media_prices_is_not_charged_for_media(media: None, settings) -> None:
    settings.BILLING_MIN_CHARGE = 1
    prices = model_resolve(name="acme/text").prices
    usage = Usage(prompt_tokens=100, completion_tokens=10, video_seconds=60, audio_seconds=60)
    # 100 x 1.32 + 10 x 7.92 = 211.2 credits; the seconds are not priced
    cost = cost_compute(usage=usage, prices=prices)
    assert cost.total == 212
    assert "video_second" not in cost.breakdown() and "video_second" not in prices.as_dict()


def test_cache_writes_cost_the_prompt_price_unless_the_model_prices_them(settings) -> None:
    settings.BILLING_MIN_CHARGE = 1
    usage = Usage(prompt_tokens=1_000, cached_tokens=200, cache_write_tokens=300)
    plain = Prices(prompt=Decimal(2), cache_read=Decimal("0.2"))
    # unpriced: 800 x 2 + 200 x 0.2 = 1,640 (the written tokens are prompt tokens)
    assert cost_compute(usage=usage, prices=plain).total == 1_640
    # priced at 2.5: 500 x 2 + 200 x 0.2 + 300 x 2.5 = 1,790
    priced = Prices(prompt=Decimal(2), cache_read=Decimal("0.2"), cache_write=Decimal("2.5"))
    cost = cost_compute(usage=usage, prices=priced)
    assert (cost.total, cost.prompt, cost.cache_write) == (1_790, Decimal(1_000), Decimal(750))
    # a provider reporting more written tokens than uncached ones never goes negative
    over = Usage(prompt_tokens=100, cached_tokens=60, cache_write_tokens=90)
    cost = cost_compute(usage=over, prices=priced)
    assert (cost.prompt, cost.cache_read, cost.cache_write) == (0, Decimal(12), Decimal(100))


@pytest.mark.parametrize("unit", PRICE_UNITS, ids=lambda u: u.name)
def test_every_unit_is_stored_resolved_and_charged(db: None, settings, unit) -> None:
    settings.BILLING_MIN_CHARGE = 1
    # given a model priced 3 USD per unit (per 1M tokens for tokens) in this unit only
    fields = {u.column: Decimal(0) for u in PRICE_UNITS}
    fields[unit.column] = Decimal(3)
    Model.objects.create(public_id="acme/one", name="One", **fields)
    catalog_invalidate()
    prices = model_resolve(name="acme/one").prices
    credits = Decimal(3) if unit.is_per_token else Decimal(3_000_000)
    assert prices.present == ((unit.name, credits),)
    # when 7 of it are used (7 tokens of which all are of the unit's kind, or one request)
    quantity = {
        "prompt": Usage(prompt_tokens=7),
        "completion": Usage(completion_tokens=7),
        "cache_read": Usage(prompt_tokens=7, cached_tokens=7),
        "cache_write": Usage(prompt_tokens=7, cache_write_tokens=7),
        "request": Usage(),
        "image": Usage(images=7),
        "video_second": Usage(video_seconds=7),
        "audio_second": Usage(audio_seconds=7),
    }
    cost = cost_compute(usage=quantity[unit.name], prices=prices)
    # then it costs the price times the quantity, and appears in the breakdown
    expected = credits * (1 if unit.name == "request" else 7)
    assert cost.total == expected and cost.amount(unit.name) == expected
    assert Decimal(cost.breakdown()[unit.name]) == expected
