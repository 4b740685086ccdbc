"""Rows for the tests, made through the services: providers pointing at the fake upstreams,
models with their routes and prices, users with a key and credits. Plain functions and
classes; the fixtures in tests/conftest.py call them, and a test may too."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from accounts.models import ApiKey, User
from accounts.services import apikey_create, user_create
from billing.services import credits_grant
from catalog.models import Model, Provider, Route
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.upstream import FakeUpstream

FAKE_KEY_ENV = "FAKE_UPSTREAM_API_KEY"  # the environment variable of the fake's key
FAKE_SECRET = "upstream-secret"
ANTHROPIC_KEY_ENV = "FAKE_ANTHROPIC_API_KEY"
ANTHROPIC_SECRET = "anthropic-secret"  # the key the fake Anthropic expects


# --- the fake upstreams and their providers ---------------------------------------------------


def upstream_reset(server: FakeUpstream) -> FakeUpstream:
    """The fake OpenAI upstream with its request log emptied and its delays back to zero."""
    server.requests.clear()
    server.delay = 0.0
    server.chunk_delay = 0.0
    return server


def anthropic_reset(server: FakeAnthropic) -> FakeAnthropic:
    """The fake Anthropic upstream with its request log and disconnect count emptied."""
    with server.lock:
        server.requests.clear()
        server.disconnects = 0
    return server


def provider_create(upstream: FakeUpstream, *, slug: str = "fake", name: str = "Fake") -> Provider:
    """A provider of the ``openai`` dialect at the fake upstream (its key in FAKE_KEY_ENV)."""
    return Provider.objects.create(
        slug=slug,
        name=name,
        dialect="openai",
        base_url=upstream.url + "/v1",
        api_key_env=FAKE_KEY_ENV,
    )


def anthropic_provider_create(upstream: FakeAnthropic) -> Provider:
    """A provider of the ``anthropic`` dialect at the fake (base URL without ``/v1``)."""
    return Provider.objects.create(
        slug="fake-anthropic",
        name="Fake Anthropic",
        dialect="anthropic",
        base_url=upstream.url,
        api_key_env=ANTHROPIC_KEY_ENV,
    )


# --- models and routes ------------------------------------------------------------------------


def _price(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def model_create(
    provider: Provider,
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
    """A public model priced in credits per token, one route per upstream model name (the
    first has the highest priority), on ``route_provider`` or else ``provider``."""
    model = Model.objects.create(
        public_id=public_id,
        name=public_id,
        context_length=context_length,
        max_output_tokens=max_output_tokens,
        price_prompt=_price(prompt),
        price_completion=_price(completion),
        price_request=_price(request),
        price_cache_read=_price(cache_read),
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


ModelFactory = Callable[..., Model]  # the ``make_model`` fixture: model_create on its provider


# --- users, keys and credits ------------------------------------------------------------------


@dataclass
class Account:
    """A user, one API key and its secret, with the credit account read fresh on demand."""

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


def account_create(*, email: str, credits: int = 10_000_000, **key_fields: Any) -> Account:
    """A user granted ``credits`` (none when 0) with one key made from ``key_fields``."""
    user = user_create(email=email)
    if credits:
        credits_grant(user_id=user.pk, amount=credits, memo="test")
    created = apikey_create(user=user, **key_fields)
    return Account(user=user, key=created.api_key, secret=created.secret)


AccountFactory = Callable[..., Account]  # the ``make_account`` fixture: (credits, email=, ...)
