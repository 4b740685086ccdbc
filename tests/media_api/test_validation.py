"""The media bodies' checks, without a server: what passes becomes the canonical media
request, and every malformed field is 400 naming it (``param``)."""

from __future__ import annotations

from typing import Any

import pytest

from config.errors import ApiError
from gateway.media.validation import (
    estimate_validate,
    image_validate,
    music_validate,
    video_validate,
)

VALIDATORS = {
    "image": image_validate,
    "video": video_validate,
    "music": music_validate,
    "estimate": estimate_validate,
}


def _error(kind: str, body: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        VALIDATORS[kind](body)
    return caught.value


def test_an_image_body_becomes_the_canonical_request() -> None:
    # given every field an image request takes
    body = {
        "model": "img/one",
        "prompt": "a red fox",
        "n": 3,
        "size": "1024x1536",
        "quality": "high",
        "response_format": "b64_json",
        "max_credits": 120_000,
        "user": "ignored",
    }
    # when it is checked
    checked = image_validate(body)
    # then every canonical field is present and the unknown one is dropped
    assert checked.kind == "image"
    assert checked.model == "img/one"
    assert checked.params == {
        "prompt": "a red fox",
        "n": 3,
        "size": "1024x1536",
        "quality": "high",
        "duration": None,
        "resolution": None,
        "input_mode": None,
        "image_url": None,
    }
    assert (checked.max_credits, checked.callback_url, checked.response_format) == (
        120_000,
        "",
        "b64_json",
    )


def test_image_defaults_are_one_image_as_links() -> None:
    checked = image_validate({"model": "m", "prompt": "p", "n": 2.0})
    assert checked.params["n"] == 2
    assert isinstance(checked.params["n"], int)
    assert (checked.params["size"], checked.response_format, checked.max_credits) == (
        None,
        "url",
        None,
    )
    assert image_validate({"model": "m", "prompt": "p"}).params["n"] == 1


def test_a_video_body_infers_its_input_mode() -> None:
    text = video_validate({"model": "v", "prompt": "waves", "duration": 6})
    assert text.params["input_mode"] == "text-to-video"
    assert text.params["duration"] == 6
    image = video_validate(
        {
            "model": "v",
            "prompt": "waves",
            "duration": 5,
            "resolution": "720p",
            "image_url": "https://example.com/a.png",
        }
    )
    assert image.params["input_mode"] == "image-to-video"
    assert (image.params["duration"], image.params["resolution"]) == (5, "720p")
    assert image.params["image_url"] == "https://example.com/a.png"
    v2v = video_validate(
        {
            "model": "v",
            "prompt": "p",
            "duration": 4,
            "input_mode": "video-to-video",
            "video_url": "https://example.com/in.mp4",
        }
    )
    assert v2v.params["video_url"] == "https://example.com/in.mp4"


def test_music_duration_is_optional() -> None:
    assert music_validate({"model": "m", "prompt": "jazz"}).params["duration"] is None
    assert music_validate({"model": "m", "prompt": "jazz", "duration": 30}).params["duration"] == 30


def test_an_estimate_body_names_audio_as_music() -> None:
    checked = estimate_validate({"model": "m", "modality": "audio", "duration": 10})
    assert (checked.modality, checked.n, checked.duration) == ("music", 1, 10)
    assert estimate_validate({"model": "m"}).modality is None


NOT_OBJECTS = [[], "text", 1, None, True]


@pytest.mark.parametrize("kind", VALIDATORS)
@pytest.mark.parametrize("body", NOT_OBJECTS, ids=repr)
def test_a_body_that_is_not_an_object_is_invalid_request(kind: str, body: Any) -> None:
    err = _error(kind, body)
    assert (err.status, err.code) == (400, "invalid_request")


@pytest.mark.parametrize("kind", VALIDATORS)
def test_a_missing_model_is_model_required(kind: str) -> None:
    for body in ({"prompt": "p", "duration": 4}, {"model": "", "prompt": "p", "duration": 4}):
        err = _error(kind, body)
        assert (err.status, err.code, err.param) == (400, "model_required", "model")


@pytest.mark.parametrize("kind", ["image", "video", "music"])
def test_a_missing_prompt_is_prompt_required(kind: str) -> None:
    for body in ({"model": "m", "duration": 4}, {"model": "m", "prompt": "", "duration": 4}):
        err = _error(kind, body)
        assert (err.status, err.code, err.param) == (400, "prompt_required", "prompt")


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("image", {"model": 5}, "model"),
    ("image", {"model": "a\x00b"}, "model"),
    ("image", {"prompt": 5}, "prompt"),
    ("image", {"prompt": ["a"]}, "prompt"),
    ("image", {"prompt": "   "}, "prompt"),
    ("image", {"prompt": "a\x00"}, "prompt"),
    ("image", {"prompt": "x" * 32_001}, "prompt"),
    ("image", {"n": 0}, "n"),
    ("image", {"n": 11}, "n"),
    ("image", {"n": 1.5}, "n"),
    ("image", {"n": "2"}, "n"),
    ("image", {"n": True}, "n"),
    ("image", {"size": 1024}, "size"),
    ("image", {"size": "1024 x 1024"}, "size"),
    ("image", {"size": ""}, "size"),
    ("image", {"size": "x" * 40}, "size"),
    ("image", {"quality": "ultra"}, "quality"),
    ("image", {"response_format": "png"}, "response_format"),
    ("image", {"max_credits": -1}, "max_credits"),
    ("image", {"max_credits": 1.5}, "max_credits"),
    ("image", {"max_credits": "100"}, "max_credits"),
    ("image", {"max_credits": 2**63}, "max_credits"),
    ("image", {"callback_url": 7}, "callback_url"),
    ("image", {"callback_url": ""}, "callback_url"),
    ("image", {"n": 10**30}, "n"),
    ("video", {}, "duration"),
    ("video", {"duration": 0}, "duration"),
    ("video", {"duration": -3}, "duration"),
    ("video", {"duration": 3601}, "duration"),
    ("video", {"duration": "6"}, "duration"),
    ("video", {"duration": False}, "duration"),
    ("video", {"duration": 4, "resolution": 720}, "resolution"),
    ("video", {"duration": 4, "resolution": "7 20p"}, "resolution"),
    ("video", {"duration": 4, "input_mode": "text"}, "input_mode"),
    ("video", {"duration": 4, "input_mode": "image-to-video"}, "image_url"),
    ("video", {"duration": 4, "input_mode": "video-to-video"}, "video_url"),
    ("video", {"duration": 4, "image_url": "ftp://x/y.png"}, "image_url"),
    ("video", {"duration": 4, "image_url": "not a url"}, "image_url"),
    ("video", {"duration": 4, "image_url": 3}, "image_url"),
    ("video", {"duration": 4, "image_url": "https://x/" + "a" * 2000}, "image_url"),
    ("video", {"duration": 4, "max_credits": {}}, "max_credits"),
    ("video", {"duration": 4, "nested": [[[[1e400]]]]}, "nested[0][0][0][0]"),
    ("music", {"duration": 0}, "duration"),
    ("music", {"duration": "long"}, "duration"),
    ("music", {"max_credits": []}, "max_credits"),
    ("estimate", {"modality": "smell"}, "modality"),
    ("estimate", {"modality": 1}, "modality"),
    ("estimate", {"n": 0}, "n"),
    ("estimate", {"duration": -1}, "duration"),
    ("estimate", {"resolution": ["720p"]}, "resolution"),
    ("estimate", {"input_mode": "x"}, "input_mode"),
    ("estimate", {"max_credits": -5}, "max_credits"),
    ("estimate", {"prompt": 5}, "prompt"),
]


@pytest.mark.parametrize(("kind", "fields", "param"), BAD, ids=[f"{k}-{p}" for k, _, p in BAD])
def test_a_bad_field_is_invalid_parameter_naming_it(
    kind: str, fields: dict[str, Any], param: str
) -> None:
    # given a valid body of its kind with one field made bad
    body = {"model": "m", "prompt": "p", **fields}
    if kind == "video" and "duration" not in fields and fields:
        body["duration"] = 4
    # when it is checked, then it is refused naming the field
    err = _error(kind, body)
    assert (err.status, err.code, err.param) == (400, "invalid_parameter", param)
    assert err.message


@pytest.mark.parametrize("kind", ["image", "video", "music"])
def test_a_private_callback_url_is_refused_at_request_time(kind: str) -> None:
    for url in ("http://127.0.0.1:9/hook", "http://localhost/hook", "ftp://93.184.216.34/x"):
        body = {"model": "m", "prompt": "p", "duration": 4, "callback_url": url}
        err = _error(kind, body)
        assert (err.status, err.code, err.param) == (400, "invalid_parameter", "callback_url")


def test_a_public_callback_url_is_kept() -> None:
    body = {"model": "m", "prompt": "p", "callback_url": "https://93.184.216.34/hooks/gw"}
    assert image_validate(body).callback_url == "https://93.184.216.34/hooks/gw"
    assert music_validate(body).callback_url == "https://93.184.216.34/hooks/gw"


def test_a_video_is_whole_seconds_and_music_may_be_a_fraction() -> None:
    with pytest.raises(ApiError) as refused:
        video_validate({"model": "v", "prompt": "waves", "duration": 4.5})
    assert (refused.value.status, refused.value.code, refused.value.param) == (
        400,
        "invalid_parameter",
        "duration",
    )
    assert refused.value.message == "duration must be a whole number of seconds for a video"
    assert (
        video_validate({"model": "v", "prompt": "waves", "duration": 4.0}).params["duration"] == 4
    )
    assert (
        music_validate({"model": "m", "prompt": "a tune", "duration": 2.5}).params["duration"]
        == 2.5
    )
