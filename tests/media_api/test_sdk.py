"""The official ``openai`` SDK against a live server: ``client.images.generate`` gets the
gateway's own links and the exact cost, and the generic ``client.post``/``client.get``
drive a video task as the README shows."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import openai
import pytest
import requests
from django.utils import timezone

from gateway.media import engine
from tests.factories import AccountFactory
from tests.fakes.media import FakeMedia
from tests.media_api.conftest import IMAGE, REQUEST, START, VIDEO_SECOND

pytestmark = pytest.mark.usefixtures("transactional_db", "media_models")


def sdk(live_server: Any, secret: str, prefix: str = "/v1") -> openai.OpenAI:
    return openai.OpenAI(base_url=live_server.url + prefix, api_key=secret, max_retries=0)


@pytest.mark.parametrize("prefix", ["/v1", "/api/v1"])
def test_images_generate_returns_gateway_links_and_the_cost(
    live_server: Any, make_account: AccountFactory, media_upstream: FakeMedia, prefix: str
) -> None:
    account = make_account(START)
    client = sdk(live_server, account.secret, prefix)
    # when the SDK asks for two images
    image = client.images.generate(model="acme/pic", prompt="a lighthouse", n=2, size="1024x1024")
    # then both are the gateway's links, serving PNGs, charged 2 x 40,000 + 1,000 once
    assert image.data is not None and len(image.data) == 2
    for item in image.data:
        assert item.url is not None
        assert item.url.startswith(live_server.url + "/v1/files/")
        got = requests.get(item.url, timeout=10)
        assert got.status_code == 200
        assert got.headers["Content-Type"] == "image/png"
        assert got.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert image.data[0].url != image.data[1].url
    extra = image.model_extra or {}
    assert (extra["status"], extra["model"]) == ("succeeded", "acme/pic")
    assert extra["task_id"].startswith("task_")
    assert image.usage is not None
    assert (image.usage.model_extra or {})["cost"] == 2 * IMAGE + REQUEST == 81_000
    assert account.balance() == START - 81_000 and account.held() == 0
    assert media_upstream.created == 1
    # the same task is readable by its id
    task = client.get(f"/tasks/{extra['task_id']}", cast_to=dict)
    assert [o["url"] for o in task["output"]] == [d.url for d in image.data]
    assert task["cost"] == 81_000


def test_images_generate_as_b64_json(
    live_server: Any, make_account: AccountFactory, media_upstream: FakeMedia
) -> None:
    account = make_account(START)
    client = sdk(live_server, account.secret)
    image = client.images.generate(model="acme/pic-b64", prompt="p", response_format="b64_json")
    assert image.data is not None and len(image.data) == 1
    assert image.data[0].b64_json is not None and image.data[0].url is not None
    stored = requests.get(image.data[0].url, timeout=10).content
    assert base64.b64decode(image.data[0].b64_json) == stored
    assert stored.startswith(b"\x89PNG")


def test_sdk_errors_are_typed(
    live_server: Any, make_account: AccountFactory, media_upstream: FakeMedia
) -> None:
    account = make_account(START)
    client = sdk(live_server, account.secret)
    with pytest.raises(openai.BadRequestError) as bad:
        client.images.generate(model="acme/pic", prompt="p", n=11)
    assert bad.value.code == "invalid_parameter"
    with pytest.raises(openai.APIStatusError) as budget:
        client.images.generate(model="acme/pic", prompt="p", extra_body={"max_credits": 1})
    assert (budget.value.status_code, budget.value.code) == (402, "max_credits_exceeded")
    assert media_upstream.created == 0 and account.balance() == START


def test_a_video_task_through_the_sdks_generic_calls(
    live_server: Any, make_account: AccountFactory, media_upstream: FakeMedia
) -> None:
    account = make_account(START)
    client = sdk(live_server, account.secret)
    body = {"model": "acme/vid", "prompt": "waves", "duration": 3}
    video = client.post("/videos", cast_to=dict, body=body)
    assert (video["object"], video["status"]) == ("gateway.video.task", "pending")
    for minutes in (2, 4):  # the poller: running, then done
        engine.tasks_poll_due(now=timezone.now() + dt.timedelta(minutes=minutes))
    task = client.get(f"/tasks/{video['task_id']}", cast_to=dict)
    assert (task["status"], task["cost"]) == ("succeeded", 3 * VIDEO_SECOND)
    assert requests.get(task["output"][0]["url"], timeout=10).headers["Content-Type"] == "video/mp4"
    assert account.balance() == START - 300_000
