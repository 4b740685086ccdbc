"""The dialect registry: every dialect a provider may choose is served, and a replicate
provider of the catalog reaches Replicate's predictions API through its route."""

from __future__ import annotations

import pytest

from catalog.models import Provider
from catalog.selectors import catalog_invalidate, model_resolve
from gateway.pipeline.upstream import dialect_for
from gateway.providers import DIALECTS
from gateway.providers.replicate import ReplicateDialect
from tests.factories import model_create
from tests.fakes.media import FakeMedia
from tests.fakes.media_fixtures import MEDIA_KEY_ENV, MEDIA_SECRET
from tests.providers_media.routes import body


def test_every_dialect_a_provider_may_choose_is_served() -> None:
    assert sorted(DIALECTS) == sorted(Provider.Dialect.values)
    assert isinstance(DIALECTS["replicate"], ReplicateDialect)
    assert DIALECTS["replicate"].name == "replicate"


@pytest.mark.django_db
def test_a_catalog_replicate_route_submits_and_polls(media_upstream: FakeMedia) -> None:
    provider = Provider.objects.create(
        slug="replicate",
        name="Replicate",
        dialect=Provider.Dialect.REPLICATE,
        base_url=media_upstream.url,
        api_key_env=MEDIA_KEY_ENV,
    )
    model_create(
        provider,
        "fake/video",
        upstream_models=("video/after-1",),
        prompt=None,
        completion=None,
        output_modalities=["video"],
    )
    catalog_invalidate()
    resolved = model_resolve(name="fake/video")
    assert resolved is not None
    (route,) = resolved.routes
    dialect = dialect_for(route)
    assert dialect is DIALECTS["replicate"]
    task = dialect.task_submit(route, body("video", duration=3))
    assert [dialect.task_poll(route, task).state for _ in range(2)] == ["running", "succeeded"]
    sent = media_upstream.requests[0]
    assert sent["path"] == "/v1/models/video/after-1/predictions"
    assert sent["headers"]["Authorization"] == f"Bearer {MEDIA_SECRET}"
