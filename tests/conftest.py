"""Shared fixtures: a real fake upstream server, a registry pointing at it, users with keys
and credits, and an API client."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from accounts.models import ApiKey, User
from accounts.services import apikey_create, user_create
from billing.services import credits_grant
from catalog.models import Model, Provider, Route
from gateway import keycache, routing
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.upstream import FakeUpstream

FAKE_KEY_ENV = "FAKE_UPSTREAM_API_KEY"


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
    fake_upstream.requests.clear()
    fake_upstream.delay = 0.0
    fake_upstream.chunk_delay = 0.0
    monkeypatch.setenv(FAKE_KEY_ENV, "upstream-secret")
    return fake_upstream


@pytest.fixture(autouse=True)
def _fresh_breakers() -> Iterator[None]:
    routing.routes_reset()
    keycache.keys_clear()
    yield
    routing.routes_reset()
    keycache.keys_clear()


@pytest.fixture
def provider(db: None, upstream: FakeUpstream) -> Provider:
    return Provider.objects.create(
        slug="fake",
        name="Fake",
        dialect="openai",
        base_url=upstream.url + "/v1",
        api_key_env=FAKE_KEY_ENV,
    )


ModelFactory = Callable[..., Model]


@pytest.fixture
def make_model(provider: Provider) -> ModelFactory:
    def make(
        public_id: str = "test/echo",
        *,
        upstream_models: tuple[str, ...] = ("echo",),
        prompt: str | None = "1.5",
        completion: str | None = "6.25",
        request: str | None = "0",
        cache_read: str | None = None,
        aliases: tuple[str, ...] = (),
        context_length: int = 100_000,
        max_output_tokens: int = 1_000,
        route_provider: Provider | None = None,
        **fields: Any,
    ) -> Model:
        model = Model.objects.create(
            public_id=public_id,
            name=public_id,
            context_length=context_length,
            max_output_tokens=max_output_tokens,
            price_prompt=None if prompt is None else Decimal(prompt),
            price_completion=None if completion is None else Decimal(completion),
            price_request=None if request is None else Decimal(request),
            price_cache_read=None if cache_read is None else Decimal(cache_read),
            **fields,
        )
        for alias in aliases:
            model.aliases.create(alias=alias)
        for i, name in enumerate(upstream_models):
            Route.objects.create(
                model=model,
                provider=route_provider or provider,
                upstream_model=name,
                priority=100 - i,
            )
        return model

    return make


@dataclass
class Account:
    user: User
    key: ApiKey
    secret: str

    @property
    def headers(self) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.secret}"}

    def balance(self) -> int:
        self.user.credit_account.refresh_from_db()
        return self.user.credit_account.balance

    def held(self) -> int:
        self.user.credit_account.refresh_from_db()
        return self.user.credit_account.held


AccountFactory = Callable[..., Account]


@pytest.fixture
def make_account(db: None) -> AccountFactory:
    counter = {"n": 0}

    def make(credits: int = 10_000_000, *, email: str | None = None, **key_fields: Any) -> Account:
        counter["n"] += 1
        user = user_create(email=email or f"user{counter['n']}@example.com")
        if credits:
            credits_grant(user_id=user.pk, amount=credits, memo="test")
        created = apikey_create(user=user, **key_fields)
        return Account(user=user, key=created.api_key, secret=created.secret)

    return make


class ApiClient:
    """Django's test client speaking JSON to /v1."""

    def __init__(self) -> None:
        self.client = Client()

    def post(
        self,
        path: str,
        body: Any = None,
        *,
        account: Account | None = None,
        raw: bytes | None = None,
        **headers: str,
    ) -> Any:
        if account is not None:
            headers = {**account.headers, **headers}
        data = raw if raw is not None else json.dumps(body)
        return self.client.post(path, data=data, content_type="application/json", **headers)

    def get(self, path: str, *, account: Account | None = None, **headers: str) -> Any:
        if account is not None:
            headers = {**account.headers, **headers}
        return self.client.get(path, **headers)


@pytest.fixture
def api() -> ApiClient:
    return ApiClient()


# --- the fake Anthropic upstream ------------------------------------------------------------

ANTHROPIC_KEY_ENV = "FAKE_ANTHROPIC_API_KEY"
ANTHROPIC_SECRET = "anthropic-secret"  # the key the fake expects


@pytest.fixture(scope="session")
def fake_anthropic() -> Iterator[FakeAnthropic]:
    server = FakeAnthropic(api_key=ANTHROPIC_SECRET).start()
    yield server
    server.stop()


@pytest.fixture
def anthropic_upstream(fake_anthropic: FakeAnthropic) -> FakeAnthropic:
    """The fake Anthropic upstream, its request log emptied for this test."""
    with fake_anthropic.lock:
        fake_anthropic.requests.clear()
        fake_anthropic.disconnects = 0
    return fake_anthropic


@pytest.fixture
def anthropic_provider(
    db: None, anthropic_upstream: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> Provider:
    """A provider of the ``anthropic`` dialect at the fake (base URL without ``/v1``)."""
    monkeypatch.setenv(ANTHROPIC_KEY_ENV, ANTHROPIC_SECRET)
    return Provider.objects.create(
        slug="fake-anthropic",
        name="Fake Anthropic",
        dialect="anthropic",
        base_url=anthropic_upstream.url,
        api_key_env=ANTHROPIC_KEY_ENV,
    )
