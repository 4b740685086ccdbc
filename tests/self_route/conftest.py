"""Fixtures for users' own providers: the fake upstream allowed at 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from catalog.models import UserProvider
from gateway.self_route.services import user_provider_create
from tests.factories import Account, AccountFactory, ModelFactory
from tests.fakes.upstream import FakeUpstream

USER_KEY = "sk-own-upstream-key-7f3a9c"
START = 10_000_000

ProviderFactory = Callable[..., UserProvider]


@pytest.fixture
def allow_private(settings: Any) -> None:
    settings.GATEWAY_SELF_ROUTE_ALLOW_PRIVATE = True


@pytest.fixture
def priced(make_model: ModelFactory) -> Any:
    """``test/echo`` at the catalog's fake (prompt 1.5, completion 6.25 credits per token)."""
    return make_model("test/echo", prompt="1.5", completion="6.25")


@pytest.fixture
def owner(make_account: AccountFactory) -> Account:
    return make_account(START)


@pytest.fixture
def make_own(upstream: FakeUpstream, allow_private: None) -> ProviderFactory:
    def make(
        account: Account, name: str = "home", *, key: str = USER_KEY, **fields: Any
    ) -> UserProvider:
        return user_provider_create(
            user_id=account.user.pk,
            name=name,
            dialect=fields.get("dialect", "openai"),
            base_url=fields.get("base_url", upstream.url + "/v1"),
            key=key,
        )

    return make
