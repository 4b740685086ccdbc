"""Every billed POST takes Idempotency-Key the same way: chat, completions, responses,
messages, embeddings, and the media task creations (images, videos, music). A retry
replays the first answer with nothing charged again."""

from __future__ import annotations

from typing import Any

import pytest

from billing.models import LedgerEntry
from gateway.media.models import MediaTask
from tests.factories import AccountFactory, ModelFactory
from tests.helpers import ApiClient
from tests.media_api.conftest import media_models, media_providers, media_root  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

TEXT = [
    (
        "/v1/chat/completions",
        {"model": "test/echo", "messages": [{"role": "user", "content": "a"}]},
    ),
    ("/v1/completions", {"model": "test/echo", "prompt": "a b c"}),
    ("/v1/responses", {"model": "test/echo", "input": "a b c"}),
    (
        "/v1/messages",
        {"model": "test/echo", "max_tokens": 20, "messages": [{"role": "user", "content": "a"}]},
    ),
    ("/v1/embeddings", {"model": "test/echo", "input": "a b c"}),
]
MEDIA = [
    ("/v1/images/generations", {"model": "acme/pic", "prompt": "a fox"}),
    ("/v1/videos", {"model": "acme/vid", "prompt": "a fox", "duration": 4}),
    ("/v1/music/generations", {"model": "acme/song", "prompt": "a song"}),
]


def replayed(api: ApiClient, path: str, body: dict[str, Any], account: Any) -> tuple[Any, Any]:
    first = api.post(path, body, account=account, HTTP_IDEMPOTENCY_KEY="once")
    assert first.status_code == 200, first.content
    balance = account.balance(), account.held()
    again = api.post(path, body, account=account, HTTP_IDEMPOTENCY_KEY="once")
    assert again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert again["X-Request-Id"] == first["X-Request-Id"]
    assert (account.balance(), account.held()) == balance
    return first, again


@pytest.mark.parametrize(("path", "body"), TEXT, ids=[p for p, _ in TEXT])
def test_a_text_endpoint_replays_and_charges_once(
    api: ApiClient,
    make_model: ModelFactory,
    make_account: AccountFactory,
    path: str,
    body: dict[str, Any],
) -> None:
    make_model("test/echo", prompt="20", completion="55")
    account = make_account(10_000_000)
    replayed(api, path, body, account)
    credit = account.user.credit_account
    assert LedgerEntry.objects.filter(account=credit, kind=LedgerEntry.Kind.USAGE).count() == 1


@pytest.mark.parametrize(("path", "body"), MEDIA, ids=[p for p, _ in MEDIA])
def test_a_media_endpoint_replays_and_creates_one_task(
    api: ApiClient,
    media_models: Any,  # noqa: F811
    make_account: AccountFactory,
    path: str,
    body: dict[str, Any],
) -> None:
    account = make_account(10_000_000)
    replayed(api, path, body, account)
    assert MediaTask.objects.count() == 1
