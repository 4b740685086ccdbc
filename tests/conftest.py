"""Shared fixtures: a real fake upstream server, a registry pointing at it, users with keys
and credits, and an API client. The rows are made by tests/factories.py; the session's end
says how many PostgreSQL-only tests were skipped (tests/skip_summary.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from catalog.models import Model, Provider
from gateway.pipeline import keycache, routing
from tests.factories import (
    ANTHROPIC_KEY_ENV,
    ANTHROPIC_SECRET,
    FAKE_KEY_ENV,
    FAKE_SECRET,
    Account,
    AccountFactory,
    ModelFactory,
    account_create,
    anthropic_provider_create,
    anthropic_reset,
    model_create,
    provider_create,
    upstream_reset,
)
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.media_fixtures import fake_media, media_upstream  # noqa: F401  (fixtures)
from tests.fakes.upstream import FakeUpstream
from tests.helpers import ApiClient
from tests.skip_summary import pytest_terminal_summary  # noqa: F401  (a hook of this conftest)


@pytest.fixture(scope="session", autouse=True)
def _live_server_runs_the_project_handler() -> Iterator[None]:
    """``live_server`` serves the WSGI application gunicorn serves (config.wsgi: the API's
    short middleware chain), not a plain Django handler."""
    from django.contrib.staticfiles import handlers

    from config.handler import GatewayWSGIHandler

    class ProjectHandler(handlers.StaticFilesHandler):
        def __init__(self, application: Any) -> None:
            super().__init__(GatewayWSGIHandler())

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(handlers, "StaticFilesHandler", ProjectHandler)
        yield


@pytest.fixture(scope="session")
def fake_upstream() -> Iterator[FakeUpstream]:
    server = FakeUpstream(timeout_sleep=3.0).start()
    yield server
    server.stop()


@pytest.fixture
def upstream(fake_upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch) -> FakeUpstream:
    """The fake upstream, its request log emptied and its delays reset for this test."""
    monkeypatch.setenv(FAKE_KEY_ENV, FAKE_SECRET)
    return upstream_reset(fake_upstream)


@pytest.fixture(autouse=True)
def _fresh_breakers() -> Iterator[None]:
    routing.routes_reset()
    keycache.keys_clear()
    yield
    routing.routes_reset()
    keycache.keys_clear()


@pytest.fixture
def provider(db: None, upstream: FakeUpstream) -> Provider:
    return provider_create(upstream)


@pytest.fixture
def make_model(provider: Provider) -> ModelFactory:
    """``make_model(public_id, ...)``: tests.factories.model_create on ``provider``."""

    def make(public_id: str = "test/echo", **options: Any) -> Model:
        return model_create(provider, public_id, **options)

    return make


@pytest.fixture
def make_account(db: None) -> AccountFactory:
    """``make_account(credits, email=None, **key_fields)``: a new user (user<n>@example.com
    unless named) with credits and one key."""
    counter = {"n": 0}

    def make(credits: int = 10_000_000, *, email: str | None = None, **key_fields: Any) -> Account:
        counter["n"] += 1
        return account_create(
            email=email or f"user{counter['n']}@example.com", credits=credits, **key_fields
        )

    return make


@pytest.fixture
def api() -> ApiClient:
    return ApiClient()


# --- the fake Anthropic upstream ------------------------------------------------------------


@pytest.fixture(scope="session")
def fake_anthropic() -> Iterator[FakeAnthropic]:
    server = FakeAnthropic(api_key=ANTHROPIC_SECRET).start()
    yield server
    server.stop()


@pytest.fixture
def anthropic_upstream(fake_anthropic: FakeAnthropic) -> FakeAnthropic:
    """The fake Anthropic upstream, its request log emptied for this test."""
    return anthropic_reset(fake_anthropic)


@pytest.fixture
def anthropic_provider(
    db: None, anthropic_upstream: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> Provider:
    """A provider of the ``anthropic`` dialect at the fake (base URL without ``/v1``)."""
    monkeypatch.setenv(ANTHROPIC_KEY_ENV, ANTHROPIC_SECRET)
    return anthropic_provider_create(anthropic_upstream)
