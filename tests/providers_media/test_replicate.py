"""The replicate dialect against the fake media upstream: predictions submitted with their
input and the provider's key, polled to their end, cancelled, their outputs fetched, and
every failure a ProviderError (5xx and 429 retryable, other 4xx not)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.pricing import Usage
from gateway.providers import DIALECTS
from gateway.providers.base import ProviderError, ProviderNotConfigured
from gateway.providers.dialect import MediaOutput, TaskPoll, UpstreamTask
from tests.fakes.media import FakeMedia
from tests.fakes.media_files import PNG_SIGNATURE
from tests.fakes.media_fixtures import MEDIA_KEY_ENV, MEDIA_SECRET
from tests.providers_media.routes import body, read_all, route_at

REPLICATE = DIALECTS["replicate"]


def test_a_prediction_is_submitted_with_its_input_and_the_key(media_upstream: FakeMedia) -> None:
    route = route_at(media_upstream, "replicate", "image/ok")
    task = REPLICATE.task_submit(route, body("image", n=2, size="512x512"))
    assert task == UpstreamTask(upstream_id="rp000001", data={"kind": "image", "duration": None})
    assert media_upstream.created == 1
    (sent,) = media_upstream.requests
    assert (sent["method"], sent["path"]) == ("POST", "/v1/models/image/ok/predictions")
    assert sent["body"] == {"input": {"prompt": "a red fox", "num_outputs": 2}}
    assert sent["headers"]["Authorization"] == f"Bearer {MEDIA_SECRET}"


def test_a_video_input_carries_duration_resolution_and_image(media_upstream: FakeMedia) -> None:
    route = route_at(media_upstream, "replicate", "video/ok")
    fields = {"n": 3, "duration": 5, "resolution": "720p", "image_url": "https://x.test/a.png"}
    task = REPLICATE.task_submit(route, body("video", **fields))
    assert task.data == {"kind": "video", "duration": 5}
    assert media_upstream.requests[0]["body"] == {
        "input": {
            "prompt": "a red fox",
            "duration": 5,
            "resolution": "720p",
            "image": "https://x.test/a.png",
        }
    }


def test_a_video_to_video_input_carries_its_source_video(media_upstream: FakeMedia) -> None:
    route = route_at(media_upstream, "replicate", "video/ok")
    fields = {"duration": 4, "input_mode": "video-to-video", "video_url": "https://x.test/a.mp4"}
    REPLICATE.task_submit(route, body("video", **fields))
    assert media_upstream.requests[0]["body"] == {
        "input": {"prompt": "a red fox", "duration": 4, "video": "https://x.test/a.mp4"}
    }


def test_polls_say_running_until_the_images_are_done(media_upstream: FakeMedia) -> None:
    route = route_at(media_upstream, "replicate", "image/after-2")
    task = REPLICATE.task_submit(route, body("image", n=2))
    assert REPLICATE.task_poll(route, task) == TaskPoll(state="running")
    assert REPLICATE.task_poll(route, task) == TaskPoll(state="running")
    done = REPLICATE.task_poll(route, task)
    assert done.state == "succeeded"
    assert done.usage == Usage(images=2)
    base = media_upstream.url + "/files/rp000001"
    assert done.outputs == (
        MediaOutput(url=f"{base}-0.png", content_type="image/png"),
        MediaOutput(url=f"{base}-1.png", content_type="image/png"),
    )
    assert media_upstream.polls == 3
    assert media_upstream.hits("GET", "/v1/predictions/rp000001") == 3
    # the links are public: fetched without the key, real PNGs, each its own
    files = [read_all(REPLICATE.output_open(route, o)) for o in done.outputs]
    assert all(f.startswith(PNG_SIGNATURE) for f in files)
    assert files[0] != files[1]
    fetches = [r for r in media_upstream.requests if r["path"].startswith("/files/")]
    assert len(fetches) == 2
    assert all("Authorization" not in r["headers"] for r in fetches)


def test_a_video_is_one_url_and_its_requested_seconds(media_upstream: FakeMedia) -> None:
    route = route_at(media_upstream, "replicate", "video/ok")
    task = REPLICATE.task_submit(route, body("video", duration=5))
    done = REPLICATE.task_poll(route, task)
    assert done.state == "succeeded"
    assert done.usage == Usage(video_seconds=5)
    (output,) = done.outputs
    assert output.content_type == "video/mp4"
    assert read_all(REPLICATE.output_open(route, output))[4:8] == b"ftyp"


def test_music_counts_its_seconds_or_the_default(media_upstream: FakeMedia) -> None:
    route = route_at(media_upstream, "replicate", "music/ok")
    timed = REPLICATE.task_poll(route, REPLICATE.task_submit(route, body("music", duration=12.5)))
    assert timed.usage == Usage(audio_seconds=Decimal("12.5"))
    (output,) = timed.outputs
    assert output.content_type == "audio/wav"
    content = read_all(REPLICATE.output_open(route, output))
    assert (content[:4], content[8:12]) == (b"RIFF", b"WAVE")
    untimed = REPLICATE.task_poll(route, REPLICATE.task_submit(route, body("music")))
    assert untimed.usage == Usage(audio_seconds=30)  # GATEWAY_MUSIC_DEFAULT_SECONDS


def test_a_failed_prediction_fails_with_its_reason(media_upstream: FakeMedia) -> None:
    route = route_at(media_upstream, "replicate", "image/fail")
    task = REPLICATE.task_submit(route, body("image"))
    assert REPLICATE.task_poll(route, task) == TaskPoll(
        state="failed", error="The fake job failed", error_code="provider_error"
    )


def test_a_canceled_prediction_is_a_failure_coded_cancelled(media_upstream: FakeMedia) -> None:
    route = route_at(media_upstream, "replicate", "video/canceled")
    task = REPLICATE.task_submit(route, body("video", duration=4))
    poll = REPLICATE.task_poll(route, task)
    assert (poll.state, poll.error_code, poll.outputs) == ("failed", "cancelled", ())


def test_cancel_asks_replicate_and_the_next_poll_says_cancelled(media_upstream: FakeMedia) -> None:
    route = route_at(media_upstream, "replicate", "video/never")
    task = REPLICATE.task_submit(route, body("video", duration=4))
    assert REPLICATE.task_poll(route, task).state == "running"
    assert REPLICATE.task_cancel(route, task) is None
    assert media_upstream.cancels == 1
    cancel = media_upstream.requests[-1]
    assert (cancel["method"], cancel["path"]) == ("POST", "/v1/predictions/rp000001/cancel")
    assert cancel["headers"]["Authorization"] == f"Bearer {MEDIA_SECRET}"
    poll = REPLICATE.task_poll(route, task)
    assert (poll.state, poll.error_code) == ("failed", "cancelled")


def test_a_cancel_that_fails_upstream_is_not_raised(media_upstream: FakeMedia) -> None:
    route = route_at(media_upstream, "replicate", "video/never")
    REPLICATE.task_cancel(route, UpstreamTask(upstream_id="rp-missing"))  # 404 there
    assert media_upstream.hits("POST", "/v1/predictions/rp-missing/cancel") == 1
    assert media_upstream.cancels == 0


def test_a_success_without_output_fails(media_upstream: FakeMedia) -> None:
    route = route_at(media_upstream, "replicate", "image/empty")
    task = REPLICATE.task_submit(route, body("image"))
    assert REPLICATE.task_poll(route, task) == TaskPoll(
        state="failed", error="The provider finished without any output", error_code="no_output"
    )


@pytest.mark.parametrize(
    ("mode", "status", "retryable", "message"),
    [
        ("submit-500", 500, True, "Upstream answered HTTP 500"),
        ("submit-503", 503, True, "Upstream answered HTTP 503"),
        ("submit-429", 429, True, "Error: fake submit failure 429"),
        ("submit-400", 400, False, "Error: fake submit failure 400"),
        ("submit-422", 422, False, "Error: fake submit failure 422"),
    ],
)
def test_a_refused_submit_is_an_error_and_creates_nothing(
    media_upstream: FakeMedia, mode: str, status: int, retryable: bool, message: str
) -> None:
    route = route_at(media_upstream, "replicate", f"image/{mode}")
    with pytest.raises(ProviderError) as caught:
        REPLICATE.task_submit(route, body("image"))
    err = caught.value
    assert (err.status, err.retryable, err.message) == (status, retryable, message)
    assert media_upstream.created == 0


def test_poll_failures_are_errors_retryable_as_their_status(media_upstream: FakeMedia) -> None:
    route = route_at(media_upstream, "replicate", "image/poll-503")
    task = REPLICATE.task_submit(route, body("image"))
    with pytest.raises(ProviderError) as caught:
        REPLICATE.task_poll(route, task)
    assert (caught.value.status, caught.value.retryable) == (503, True)
    with pytest.raises(ProviderError) as missing:
        REPLICATE.task_poll(route, UpstreamTask(upstream_id="rp-missing"))
    assert (missing.value.status, missing.value.retryable) == (404, False)
    assert missing.value.message == "Error: No job rp-missing"


def test_a_wrong_key_is_refused_and_never_shown(
    media_upstream: FakeMedia, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MEDIA_KEY_ENV, "wrong-key-123456789")
    route = route_at(media_upstream, "replicate", "image/ok")
    with pytest.raises(ProviderError) as caught:
        REPLICATE.task_submit(route, body("image"))
    assert (caught.value.status, caught.value.retryable) == (401, False)
    assert "wrong-key" not in caught.value.message
    assert media_upstream.created == 0


def test_a_missing_key_or_a_bad_model_name_sends_nothing(
    media_upstream: FakeMedia, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ProviderError) as bad:
        REPLICATE.task_submit(route_at(media_upstream, "replicate", "no-owner"), body("image"))
    assert (bad.value.code, bad.value.retryable) == ("provider_not_configured", False)
    monkeypatch.delenv(MEDIA_KEY_ENV)
    with pytest.raises(ProviderNotConfigured):
        REPLICATE.task_submit(route_at(media_upstream, "replicate", "image/ok"), body("image"))
    assert media_upstream.requests == []


def test_an_expired_link_is_a_non_retryable_error(media_upstream: FakeMedia) -> None:
    route = route_at(media_upstream, "replicate", "image/expire")
    done = REPLICATE.task_poll(route, REPLICATE.task_submit(route, body("image")))
    (output,) = done.outputs
    assert read_all(REPLICATE.output_open(route, output)).startswith(PNG_SIGNATURE)
    with pytest.raises(ProviderError) as caught:
        REPLICATE.output_open(route, output)
    assert (caught.value.status, caught.value.retryable) == (404, False)
    assert media_upstream.fetches == 2


def test_replicate_offers_no_synchronous_image(media_upstream: FakeMedia) -> None:
    with pytest.raises(ProviderError) as caught:
        REPLICATE.image(route_at(media_upstream, "replicate", "image/ok"), body("image"))
    assert caught.value.code == "operation_not_supported"
    assert media_upstream.requests == []


def test_a_redirected_link_is_followed(media_upstream: FakeMedia) -> None:
    route = route_at(media_upstream, "replicate", "image/redirect")
    (output,) = REPLICATE.task_poll(route, REPLICATE.task_submit(route, body("image"))).outputs
    assert output.url == f"{media_upstream.url}/redirect/rp000001-0.png"
    assert read_all(REPLICATE.output_open(route, output)).startswith(PNG_SIGNATURE)
    paths = [r["path"] for r in media_upstream.requests[-2:]]
    assert paths == ["/redirect/rp000001-0.png", "/files/rp000001-0.png"]


@pytest.mark.parametrize(
    ("url", "message", "sent"),
    [
        ("/loop", "The output's link redirected too many times", 4),
        ("ftp://example.test/a.png", "The output's link is not an http(s) URL", 0),
    ],
)
def test_a_link_that_cannot_be_fetched_is_refused(
    media_upstream: FakeMedia, url: str, message: str, sent: int
) -> None:
    route = route_at(media_upstream, "replicate", "image/ok")
    link = media_upstream.url + url if url.startswith("/") else url
    with pytest.raises(ProviderError) as caught:
        REPLICATE.output_open(route, MediaOutput(url=link))
    assert (caught.value.message, caught.value.retryable) == (message, False)
    assert len(media_upstream.requests) == sent
