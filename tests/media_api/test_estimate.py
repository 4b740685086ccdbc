"""``POST /v1/credits/estimate``: public, exact credits for each kind of model, the budget
check, and a clear 400 or 404 for everything else."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest

from catalog.models import Provider
from tests.factories import model_create
from tests.helpers import ApiClient

pytestmark = pytest.mark.django_db

# USD per unit in the registry; credits per unit are x 1,000,000
IMAGE_USD, REQUEST_USD = "0.04", "0.01"  # 40,000 a picture, 10,000 a request
VIDEO_USD = "0.125"  # 125,000 a second of video
AUDIO_USD = "0.002"  # 2,000 a second of audio


@pytest.fixture
def models(provider: Provider) -> None:
    media = {"prompt": None, "completion": None}
    model_create(
        provider,
        "img/one",
        output_modalities=["image"],
        price_image=Decimal(IMAGE_USD),
        request=REQUEST_USD,
        **media,
    )
    model_create(
        provider,
        "vid/one",
        output_modalities=["video"],
        price_video_second=Decimal(VIDEO_USD),
        request="0",
        **media,
    )
    model_create(
        provider,
        "mus/one",
        output_modalities=["audio"],
        price_audio_second=Decimal(AUDIO_USD),
        request="0",
        **media,
    )
    model_create(provider, "test/echo", prompt="1.5", completion="6.25", aliases=("echo",))
    model_create(provider, "off/one", output_modalities=["image"], is_enabled=False)


def _estimate(api: ApiClient, body: Any, prefix: str = "/v1") -> Any:
    return api.post(f"{prefix}/credits/estimate", body)


@pytest.mark.parametrize("prefix", ["/v1", "/api/v1"])
def test_image_estimate_is_n_pictures_plus_the_request(
    api: ApiClient, models: None, prefix: str
) -> None:
    # when three pictures are estimated with no key at all
    resp = _estimate(api, {"model": "img/one", "n": 3, "size": "1024x1024"}, prefix)
    # then it is 3 x 40,000 + 10,000 credits
    assert resp.status_code == 200
    assert resp.json() == {
        "model": "img/one",
        "credits": 130_000,
        "usd": 0.13,
        "max_credits": None,
        "within_budget": True,
    }


def test_video_estimate_prices_the_seconds_and_checks_the_budget(
    api: ApiClient, models: None
) -> None:
    body = {
        "model": "vid/one",
        "modality": "video",
        "duration": 6,
        "resolution": "720p",
        "input_mode": "text-to-video",
        "max_credits": 700_000,
    }
    # 6 s x 125,000 = 750,000 > 700,000
    assert _estimate(api, body).json() == {
        "model": "vid/one",
        "credits": 750_000,
        "usd": 0.75,
        "max_credits": 700_000,
        "within_budget": False,
    }
    # 2 s x 125,000 = 250,000, within the same budget; a key sent is fine too
    resp = api.post(
        "/v1/credits/estimate",
        {**body, "duration": 2},
        HTTP_AUTHORIZATION="Bearer not-a-key",
    )
    assert resp.status_code == 200
    assert (resp.json()["credits"], resp.json()["within_budget"]) == (250_000, True)
    # a video is whole seconds, as its POST requires
    half = api.post("/v1/credits/estimate", {**body, "duration": 2.5})
    assert (half.status_code, half.json()["error"]["param"]) == (400, "duration")
    # a budget of exactly the estimate is within it
    assert _estimate(api, {**body, "max_credits": 750_000}).json()["within_budget"] is True


def test_video_estimate_without_a_duration_is_400(api: ApiClient, models: None) -> None:
    resp = _estimate(api, {"model": "vid/one"})
    assert resp.status_code == 400
    assert resp.json()["error"]["param"] == "duration"


def test_music_estimate_defaults_to_the_default_seconds(
    api: ApiClient, models: None, settings: Any
) -> None:
    settings.GATEWAY_MUSIC_DEFAULT_SECONDS = 30
    # 30 s x 2,000 = 60,000; 45 s asked: 90,000; modality audio names music
    assert _estimate(api, {"model": "mus/one"}).json()["credits"] == 60_000
    asked = {"model": "mus/one", "modality": "audio", "duration": 45}
    assert _estimate(api, asked).json()["credits"] == 90_000


def test_a_text_estimate_is_the_hold_of_its_prompt_and_max_tokens(
    api: ApiClient, models: None
) -> None:
    messages = [{"role": "user", "content": "hello"}]
    resp = _estimate(api, {"model": "echo", "messages": messages, "max_tokens": 50})
    # the prompt is bounded by the bytes of {"messages":[...]} (one token a byte at most),
    # the completion by max_tokens, at 1.5 and 6.25 credits a token
    prompt_bytes = len(b'{"messages":[{"role":"user","content":"hello"}]}')
    expected = math.ceil(Decimal(prompt_bytes) * Decimal("1.5") + 50 * Decimal("6.25"))
    assert (prompt_bytes, expected) == (48, 385)
    assert resp.json() == {
        "model": "test/echo",
        "credits": 385,
        "usd": 0.000385,
        "max_credits": None,
        "within_budget": True,
    }


BAD: list[tuple[dict[str, Any], int, str, str]] = [
    ({"model": "nope/none"}, 404, "model_not_available", "model"),
    ({"model": "off/one"}, 404, "model_not_available", "model"),
    ({"model": "img/one", "modality": "video"}, 400, "invalid_parameter", "modality"),
    ({"model": "echo", "modality": "image"}, 400, "invalid_parameter", "modality"),
    ({"model": "img/one", "modality": "text"}, 400, "invalid_parameter", "modality"),
    ({"model": "echo", "messages": "hi"}, 400, "invalid_parameter", "messages"),
    ({"model": "echo", "max_tokens": 0}, 400, "invalid_parameter", "max_tokens"),
    ({"model": "img/one", "n": 11}, 400, "invalid_parameter", "n"),
    ({"model": "vid/one", "duration": "6"}, 400, "invalid_parameter", "duration"),
    ({"model": "img/one", "max_credits": -1}, 400, "invalid_parameter", "max_credits"),
    ({}, 400, "model_required", "model"),
]


@pytest.mark.parametrize(("body", "status", "code", "param"), BAD)
def test_a_bad_estimate_names_its_field(
    api: ApiClient, models: None, body: dict[str, Any], status: int, code: str, param: str
) -> None:
    resp = _estimate(api, body)
    assert resp.status_code == status
    assert resp.json()["error"]["code"] == code
    assert resp.json()["error"]["param"] == param


def test_a_body_that_is_not_json_is_invalid_json(api: ApiClient, models: None) -> None:
    resp = api.post("/v1/credits/estimate", raw=b"{not json")
    assert (resp.status_code, resp.json()["error"]["code"]) == (400, "invalid_json")
    resp = api.post("/v1/credits/estimate", [1, 2])
    assert (resp.status_code, resp.json()["error"]["code"]) == (400, "invalid_request")


def test_models_name_each_media_models_endpoint(api: ApiClient, models: None) -> None:
    listed = {m["id"]: m["endpoint"] for m in api.get("/v1/models").json()["data"]}
    assert listed["img/one"] == "/v1/images/generations"
    assert listed["vid/one"] == "/v1/videos"
    assert listed["mus/one"] == "/v1/music/generations"
    assert listed["test/echo"] == "/v1/chat/completions"
    videos = api.get("/v1/models?output_modalities=video").json()["data"]
    assert [m["id"] for m in videos] == ["vid/one"]
