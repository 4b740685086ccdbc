"""The openai dialect's images and videos against the fake media upstream: images as links
or inline base64, videos submitted, polled and their content fetched with the provider's
key, and every failure a ProviderError (5xx and 429 retryable, other 4xx not)."""

from __future__ import annotations

import pytest

from billing.pricing import Usage
from gateway.providers import DIALECTS
from gateway.providers.base import ProviderError
from gateway.providers.dialect import MediaOutput, OperationUnsupported, TaskPoll, UpstreamTask
from tests.fakes.media import FakeMedia
from tests.fakes.media_files import PNG_SIGNATURE, png_bytes
from tests.fakes.media_fixtures import MEDIA_SECRET
from tests.providers_media.routes import body, read_all, route_at

OPENAI = DIALECTS["openai"]


def test_images_come_back_as_links_fetched_without_the_key(media_upstream: FakeMedia) -> None:
    route = route_at(media_upstream, "openai", "ok")
    result = OPENAI.image(route, body("image", n=2, size="1024x1024", quality="high"))
    (sent,) = media_upstream.requests
    assert (sent["method"], sent["path"]) == ("POST", "/v1/images/generations")
    assert sent["body"] == {
        "model": "ok",
        "prompt": "a red fox",
        "n": 2,
        "size": "1024x1024",
        "quality": "high",
    }
    assert sent["headers"]["Authorization"] == f"Bearer {MEDIA_SECRET}"
    urls = [f"{media_upstream.url}/files/img-1-{i}.png" for i in range(2)]
    assert result.outputs == tuple(MediaOutput(url=u) for u in urls)
    assert result.usage == Usage(images=2)
    assert result.native["data"] == [{"url": u} for u in urls]
    assert media_upstream.created == 1
    files = [read_all(OPENAI.output_open(route, o)) for o in result.outputs]
    assert files == [png_bytes(10), png_bytes(11)]
    assert all("Authorization" not in r["headers"] for r in media_upstream.requests[1:])


def test_b64_images_are_decoded_and_left_out_of_the_record(media_upstream: FakeMedia) -> None:
    route = route_at(media_upstream, "openai", "b64")
    result = OPENAI.image(route, body("image", n=3))
    assert media_upstream.requests[0]["body"] == {"model": "b64", "prompt": "a red fox", "n": 3}
    assert [o.data for o in result.outputs] == [png_bytes(10 + i) for i in range(3)]
    assert all(o.url == "" and o.data.startswith(PNG_SIGNATURE) for o in result.outputs)
    # tokens as the answer reports them (billed only where the model prices tokens)
    assert result.usage == Usage(images=3, prompt_tokens=10, completion_tokens=150)
    assert result.native["data"] == [{}, {}, {}]
    assert result.native["usage"]["total_tokens"] == 160
    assert media_upstream.fetches == 0


@pytest.mark.parametrize(
    ("mode", "status", "retryable", "message"),
    [
        ("submit-500", 500, True, "Upstream answered HTTP 500"),
        ("submit-429", 429, True, "fake submit failure 429"),
        ("submit-400", 400, False, "fake submit failure 400"),
    ],
)
def test_a_refused_image_is_an_error(
    media_upstream: FakeMedia, mode: str, status: int, retryable: bool, message: str
) -> None:
    with pytest.raises(ProviderError) as caught:
        OPENAI.image(route_at(media_upstream, "openai", mode), body("image", n=1))
    err = caught.value
    assert (err.status, err.retryable, err.message) == (status, retryable, message)
    assert media_upstream.created == 0


def test_a_video_is_submitted_polled_and_fetched_with_the_key(media_upstream: FakeMedia) -> None:
    route = route_at(media_upstream, "openai", "after-1")
    task = OPENAI.task_submit(route, body("video", duration=8, resolution="1280x720"))
    assert task == UpstreamTask(upstream_id="video_000001", data={"kind": "video", "seconds": "8"})
    (sent,) = media_upstream.requests
    assert (sent["method"], sent["path"]) == ("POST", "/v1/videos")
    assert sent["body"] == {
        "model": "after-1",
        "prompt": "a red fox",
        "seconds": "8",
        "size": "1280x720",
    }
    assert OPENAI.task_poll(route, task) == TaskPoll(state="running")
    done = OPENAI.task_poll(route, task)
    content_url = f"{media_upstream.url}/v1/videos/video_000001/content"
    assert done == TaskPoll(
        state="succeeded",
        outputs=(MediaOutput(url=content_url, content_type="video/mp4", authenticated=True),),
        usage=Usage(video_seconds=8),
    )
    assert media_upstream.polls == 2
    content = read_all(OPENAI.output_open(route, done.outputs[0]))
    assert content[4:8] == b"ftyp"
    fetch = media_upstream.requests[-1]
    assert (fetch["method"], fetch["path"]) == ("GET", "/v1/videos/video_000001/content")
    assert fetch["headers"]["Authorization"] == f"Bearer {MEDIA_SECRET}"
    # the same link without the key is refused: the key is what lets it through
    with pytest.raises(ProviderError) as caught:
        OPENAI.output_open(route, MediaOutput(url=content_url))
    assert (caught.value.status, caught.value.retryable) == (401, False)


def test_a_video_without_a_size_sends_none(media_upstream: FakeMedia) -> None:
    route = route_at(media_upstream, "openai", "ok")
    OPENAI.task_submit(route, body("video", duration=4.0))
    assert media_upstream.requests[0]["body"] == {
        "model": "ok",
        "prompt": "a red fox",
        "seconds": "4",
    }


def test_a_failed_video_fails_with_its_code_and_reason(media_upstream: FakeMedia) -> None:
    route = route_at(media_upstream, "openai", "fail")
    task = OPENAI.task_submit(route, body("video", duration=4))
    assert OPENAI.task_poll(route, task) == TaskPoll(
        state="failed", error="The fake job failed", error_code="fake_failure"
    )


def test_a_never_ending_video_stays_running(media_upstream: FakeMedia) -> None:
    route = route_at(media_upstream, "openai", "never")
    task = OPENAI.task_submit(route, body("video", duration=4))
    assert [OPENAI.task_poll(route, task).state for _ in range(3)] == ["running"] * 3
    OPENAI.task_cancel(route, task)  # OpenAI has no cancel: nothing is sent
    assert len(media_upstream.requests) == 4


def test_content_failures_and_poll_failures_are_errors(media_upstream: FakeMedia) -> None:
    route = route_at(media_upstream, "openai", "content-500")
    done = OPENAI.task_poll(route, OPENAI.task_submit(route, body("video", duration=4)))
    with pytest.raises(ProviderError) as content:
        OPENAI.output_open(route, done.outputs[0])
    assert (content.value.status, content.value.retryable) == (500, True)
    route = route_at(media_upstream, "openai", "poll-502")
    task = OPENAI.task_submit(route, body("video", duration=4))
    with pytest.raises(ProviderError) as poll:
        OPENAI.task_poll(route, task)
    assert (poll.value.status, poll.value.retryable) == (502, True)
    with pytest.raises(ProviderError) as missing:
        OPENAI.task_poll(route, UpstreamTask(upstream_id="video_missing"))
    assert (missing.value.status, missing.value.retryable) == (404, False)


def test_a_refused_video_submit_creates_nothing(media_upstream: FakeMedia) -> None:
    with pytest.raises(ProviderError) as caught:
        OPENAI.task_submit(route_at(media_upstream, "openai", "submit-400"), body("video"))
    assert (caught.value.status, caught.value.retryable) == (400, False)
    assert caught.value.message == "fake submit failure 400"
    assert media_upstream.created == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "music"}, "The openai dialect does not support music tasks"),
        ({"kind": "image"}, "The openai dialect does not support image tasks"),
        (
            {"kind": "video", "image_url": "https://x.test/a.png"},
            "The openai dialect does not support videos from an image link",
        ),
        (
            {"kind": "video", "video_url": "https://x.test/a.mp4"},
            "The openai dialect does not support videos from a video link",
        ),
    ],
)
def test_tasks_openai_does_not_offer_are_refused_before_sending(
    media_upstream: FakeMedia, fields: dict[str, str], message: str
) -> None:
    with pytest.raises(OperationUnsupported) as caught:
        OPENAI.task_submit(route_at(media_upstream, "openai", "ok"), {**body("video"), **fields})
    assert (caught.value.message, caught.value.status) == (message, 400)
    assert media_upstream.requests == []


def test_video_content_behind_a_redirect_elsewhere_gets_no_key(media_upstream: FakeMedia) -> None:
    route = route_at(media_upstream, "openai", "redirect")
    done = OPENAI.task_poll(route, OPENAI.task_submit(route, body("video", duration=4)))
    content = read_all(OPENAI.output_open(route, done.outputs[0]))
    assert content[4:8] == b"ftyp"
    asked, followed = media_upstream.requests[-2:]
    assert asked["path"] == "/v1/videos/video_000001/content"
    assert asked["headers"]["Authorization"] == f"Bearer {MEDIA_SECRET}"
    assert followed["path"] == "/files/video_000001-0.mp4"
    assert followed["headers"]["Host"].startswith("localhost:")
    assert "Authorization" not in followed["headers"]
