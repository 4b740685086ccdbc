"""The README's media examples on the sandbox models (local, free, no network), as the
demo catalog defines them: an image answered at once, a video and a music task done after
the poller's sweeps, each output a working gateway link, nothing charged."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from catalog.models import Model, Provider, Route
from catalog.selectors import catalog_invalidate
from gateway.media import engine
from tests.factories import AccountFactory
from tests.helpers import ApiClient

pytestmark = pytest.mark.usefixtures("transactional_db")
START = 1_000_000


@pytest.fixture
def sandbox_models(db: None) -> None:
    provider = Provider.objects.create(slug="sandbox", name="Sandbox", dialect="sandbox")
    for public_id, output in (
        ("sandbox/image", "image"),
        ("sandbox/video", "video"),
        ("sandbox/music", "audio"),
    ):
        model = Model.objects.create(
            public_id=public_id, name=public_id, output_modalities=[output], price_request=0
        )
        Route.objects.create(model=model, provider=provider, upstream_model=public_id)
    catalog_invalidate()


def _fetched(api: ApiClient, url: str) -> Any:
    resp = api.client.get("/" + url.split("://", 1)[1].split("/", 1)[1])
    assert resp.status_code == 200
    return resp


def test_the_readme_examples_on_the_sandbox(
    api: ApiClient, make_account: AccountFactory, sandbox_models: None
) -> None:
    account = make_account(START)
    image = api.post(
        "/v1/images/generations",
        {"model": "sandbox/image", "prompt": "A fox", "n": 2},
        account=account,
    ).json()
    assert (image["status"], len(image["data"]), image["usage"]["cost"]) == ("succeeded", 2, 0)
    assert _fetched(api, image["data"][0]["url"])["Content-Type"] == "image/png"
    video = api.post(
        "/v1/videos",
        {"model": "sandbox/video", "prompt": "Waves", "duration": 4, "max_credits": 500000},
        account=account,
    ).json()
    music = api.post(
        "/v1/music/generations",
        {"model": "sandbox/music", "prompt": "Lo-fi", "duration": 20},
        account=account,
    ).json()
    assert (video["status"], music["status"]) == ("pending", "pending")
    for minutes in range(2, 12, 2):
        engine.tasks_poll_due(now=timezone.now() + dt.timedelta(minutes=minutes))
    for task_id, content_type in ((video["id"], "video/mp4"), (music["id"], "audio/wav")):
        task = api.get(f"/v1/tasks/{task_id}", account=account).json()
        assert (task["status"], task["cost"]) == ("succeeded", 0)
        [output] = task["output"]
        assert output["content_type"] == content_type
        assert _fetched(api, output["url"])["Content-Type"] == content_type
    assert (account.balance(), account.held()) == (START, 0)
