"""The media API tests' world: providers at the fake media upstream (``openai`` at
``{url}/v1`` for images and videos, ``replicate`` at ``{url}``), priced media models on
them, and outputs stored under a temporary MEDIA_ROOT.

Prices in USD; in credits: an image 40,000, a request 1,000, a video second 100,000, an
audio second 2,500. The upstream model name picks the fake's behaviour (tests.fakes.media):
``ok`` done at the first poll, ``after-<n>`` after n more, ``never``, ``fail``,
``submit-<status>``.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from catalog.models import Model, Provider, Route
from catalog.selectors import catalog_invalidate
from tests.fakes.media import FakeMedia
from tests.fakes.media_fixtures import MEDIA_KEY_ENV

IMAGE_USD, REQUEST_USD, VIDEO_USD, AUDIO_USD = "0.04", "0.001", "0.1", "0.0025"
IMAGE, REQUEST, VIDEO_SECOND, AUDIO_SECOND = 40_000, 1_000, 100_000, 2_500
START = 10_000_000

# public id: (output, provider, upstream model, USD prices)
MODELS: dict[str, tuple[str, str, str, dict[str, str]]] = {
    "acme/pic": ("image", "openai", "ok", {"image": IMAGE_USD, "request": REQUEST_USD}),
    "acme/pic-b64": ("image", "openai", "b64", {"image": IMAGE_USD, "request": REQUEST_USD}),
    "acme/rpic": ("image", "replicate", "pic/ok", {"image": IMAGE_USD, "request": REQUEST_USD}),
    "acme/vid": ("video", "openai", "after-1", {"video_second": VIDEO_USD}),
    "acme/vid-never": ("video", "openai", "never", {"video_second": VIDEO_USD}),
    "acme/vid-fail": ("video", "openai", "fail", {"video_second": VIDEO_USD}),
    "acme/vid-refused": ("video", "openai", "submit-400", {"video_second": VIDEO_USD}),
    "acme/song": ("audio", "replicate", "music/ok", {"audio_second": AUDIO_USD}),
    "acme/song-never": ("audio", "replicate", "music/never", {"audio_second": AUDIO_USD}),
}


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    root = tmp_path / "media"
    settings.MEDIA_ROOT = str(root)
    return root


@pytest.fixture
def media_providers(db: None, media_upstream: FakeMedia) -> dict[str, Provider]:
    return {
        "openai": Provider.objects.create(
            slug="fake-openai-media",
            name="Fake OpenAI media",
            dialect="openai",
            base_url=media_upstream.url + "/v1",
            api_key_env=MEDIA_KEY_ENV,
        ),
        "replicate": Provider.objects.create(
            slug="fake-replicate",
            name="Fake Replicate",
            dialect="replicate",
            base_url=media_upstream.url,
            api_key_env=MEDIA_KEY_ENV,
        ),
    }


@pytest.fixture
def media_models(media_providers: dict[str, Provider]) -> dict[str, Model]:
    """Every model of ``MODELS``, each with one route at the fake."""
    made = {}
    for public_id, (output, provider, upstream, prices) in MODELS.items():
        model = Model.objects.create(
            public_id=public_id,
            name=public_id,
            output_modalities=[output],
            **{f"price_{unit}": Decimal(usd) for unit, usd in prices.items()},
        )
        route_to = media_providers[provider]
        Route.objects.create(model=model, provider=route_to, upstream_model=upstream)
        made[public_id] = model
    catalog_invalidate()
    return made
