"""The media engine's fixtures: providers at the fake media upstream (an ``openai`` one at
``{url}/v1`` for images and videos, a ``replicate`` one at ``{url}``), priced media models
on them, and a Caller for a task's owner."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from catalog.models import Model, Provider, Route
from catalog.selectors import catalog_invalidate
from gateway.media.engine import TaskRequest, task_create
from gateway.media.models import MediaTask
from gateway.pipeline.planning import Caller
from tests.factories import Account
from tests.fakes.media import FakeMedia
from tests.fakes.media_fixtures import MEDIA_KEY_ENV

# Prices in USD; in credits: an image 40,000, a request 1,000, a video second 100,000, an
# audio second 2,500.
IMAGE_USD, REQUEST_USD, VIDEO_USD, AUDIO_USD = "0.04", "0.001", "0.1", "0.0025"


@pytest.fixture(autouse=True)
def _media_root(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


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


MediaModel = Callable[..., Model]


@pytest.fixture
def media_model(media_providers: dict[str, Provider]) -> MediaModel:
    """``media_model(public_id, outputs, provider, upstream, **usd_prices)``."""

    def make(
        public_id: str,
        outputs: list[str],
        provider: str,
        upstreams: tuple[str, ...],
        **prices: str,
    ) -> Model:
        model = Model.objects.create(
            public_id=public_id,
            name=public_id,
            output_modalities=outputs,
            **{f"price_{unit}": Decimal(usd) for unit, usd in prices.items()},
        )
        for i, name in enumerate(upstreams):
            Route.objects.create(
                model=model,
                provider=media_providers[provider],
                upstream_model=name,
                priority=100 - i,
            )
        catalog_invalidate()
        return model

    return make


def caller_of(account: Account, surface: str = "images") -> Caller:
    key = type(account.key).objects.select_related("user__credit_account").get(pk=account.key.pk)
    return Caller(
        request_id="req_" + uuid.uuid4().hex,
        api_key=key,
        account_id=key.user.credit_account.pk,
        surface=surface,
    )


def create(account: Account, kind: str, model: str, **params: Any) -> MediaTask:
    max_credits = params.pop("max_credits", None)
    callback_url = params.pop("callback_url", "")
    params.setdefault("prompt", "a lighthouse at dusk")
    return task_create(
        caller_of(account),
        TaskRequest(
            kind=kind,
            model=model,
            params=params,
            max_credits=max_credits,
            callback_url=callback_url,
            origin="https://gw.example",
        ),
    )


def ledger_clean() -> str:
    """``manage.py verify_ledger`` finds no breach (it raises CommandError on one); its
    summary line."""
    out = StringIO()
    call_command("verify_ledger", stdout=out)
    return out.getvalue()
