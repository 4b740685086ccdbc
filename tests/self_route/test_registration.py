"""Registering a provider of one's own: the key is stored only encrypted, opens with the
environment's secret (and a rotated list), fails cleanly under another; the base URL
passes the outbound address guard unless the operator allows private addresses."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from catalog.models import UserProvider
from catalog.provider_keys import (
    ProviderKeyUnreadable,
    provider_key_decrypt,
    provider_key_reencrypt,
)
from config.errors import DomainError
from gateway.self_route.services import user_provider_create, user_provider_key_rotate
from tests.factories import Account
from tests.self_route.conftest import USER_KEY, ProviderFactory

pytestmark = pytest.mark.django_db


def test_the_key_is_stored_encrypted_and_opens_with_the_environments_secret(
    owner: Account, make_own: ProviderFactory, settings: Any
) -> None:
    settings.GATEWAY_PROVIDER_KEYS_SECRET = ["first-secret"]
    own = make_own(owner)
    row = UserProvider.objects.get(pk=own.pk)
    assert row.slug == "my-home"
    assert USER_KEY not in row.key_encrypted and USER_KEY[-8:] not in row.key_encrypted
    assert row.key_encrypted.startswith("gAAAA")  # a Fernet token
    assert row.key_last4 == USER_KEY[-4:]
    assert provider_key_decrypt(row.key_encrypted) == USER_KEY
    # a wrong secret fails cleanly
    settings.GATEWAY_PROVIDER_KEYS_SECRET = ["another-secret"]
    with pytest.raises(ProviderKeyUnreadable):
        provider_key_decrypt(row.key_encrypted)
    # rotation: a new secret first, the old one still opens, re-encrypting moves it over
    settings.GATEWAY_PROVIDER_KEYS_SECRET = ["second-secret", "first-secret"]
    assert provider_key_decrypt(row.key_encrypted) == USER_KEY
    moved = provider_key_reencrypt(row.key_encrypted)
    settings.GATEWAY_PROVIDER_KEYS_SECRET = ["second-secret"]
    assert provider_key_decrypt(moved) == USER_KEY


def test_without_a_configured_secret_the_django_secret_derives_the_key(
    owner: Account, make_own: ProviderFactory, settings: Any
) -> None:
    settings.GATEWAY_PROVIDER_KEYS_SECRET = []
    own = make_own(owner)
    assert provider_key_decrypt(own.key_encrypted) == USER_KEY
    settings.SECRET_KEY = "changed-" + settings.SECRET_KEY
    with pytest.raises(ProviderKeyUnreadable):
        provider_key_decrypt(own.key_encrypted)


def test_rotating_the_key_replaces_it(owner: Account, make_own: ProviderFactory) -> None:
    own = make_own(owner)
    user_provider_key_rotate(provider=own, key="sk-new-key-0042")
    own.refresh_from_db()
    assert (provider_key_decrypt(own.key_encrypted), own.key_last4) == ("sk-new-key-0042", "0042")


def test_slugs_are_unique_per_user_only(
    owner: Account, make_account: Any, make_own: ProviderFactory
) -> None:
    make_own(owner, "Home Box")
    with pytest.raises(DomainError) as exc:
        make_own(owner, "home box")
    assert exc.value.param == "name"
    other = make_account()
    assert make_own(other, "Home Box").slug == "my-home-box"
    assert UserProvider.objects.count() == 2


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/v1",
        "http://localhost/v1",
        "http://10.0.0.5/v1",
        "http://192.168.1.10/v1",
        "http://169.254.169.254/latest",
        "http://[::1]/v1",
        "http://[fe80::1]/v1",
        "http://0.0.0.0/v1",
        "http://2130706433/v1",
        "http://[::ffff:127.0.0.1]/v1",
        "ftp://example.com/v1",
        "http:///v1",
        "http://user:pw@example.com/v1",
    ],
)
def test_the_guard_refuses_private_loopback_and_link_local_base_urls(
    owner: Account, settings: Any, url: str
) -> None:
    settings.GATEWAY_SELF_ROUTE_ALLOW_PRIVATE = False
    with pytest.raises(DomainError) as exc:
        user_provider_create(
            user_id=owner.user.pk, name="x", dialect="openai", base_url=url, key="k-1234"
        )
    assert (exc.value.code, exc.value.param) == ("invalid_url", "base_url")
    assert UserProvider.objects.count() == 0


def test_a_name_that_resolves_privately_later_is_refused_at_connect(
    api: Any,
    owner: Account,
    priced: Any,
    upstream: Any,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding: public at registration, loopback when the request connects."""
    settings.GATEWAY_SELF_ROUTE_ALLOW_PRIVATE = False
    real = socket.getaddrinfo
    answer = {"ip": "93.184.216.34"}

    def fake_getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer["ip"], port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    user_provider_create(
        user_id=owner.user.pk,
        name="rebind",
        dialect="openai",
        base_url=f"http://rebind.example:{upstream.url.rsplit(':', 1)[1]}/v1",
        key="k-1234",
    )
    answer["ip"] = "127.0.0.1"
    resp = api.post(
        "/v1/chat/completions",
        {
            "model": "test/echo",
            "messages": [{"role": "user", "content": "hi"}],
            "provider": {"only": ["my-rebind"]},
        },
        account=owner,
    )
    assert resp.status_code == 503, resp.content
    assert resp.json()["error"]["code"] == "provider_not_configured"
    assert upstream.requests == []
    assert owner.balance() == 10_000_000 and owner.held() == 0


@hsettings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.text(max_size=80),
    dialect=st.sampled_from(["openai", "anthropic", "sandbox", "", "OPENAI"]),
    base_url=st.one_of(st.text(max_size=60), st.just("http://127.0.0.1:1/v1")),
    key=st.text(max_size=40),
)
def test_fuzzed_registrations_store_or_refuse_with_a_domain_error(
    owner: Account, allow_private: None, name: str, dialect: str, base_url: str, key: str
) -> None:
    before = UserProvider.objects.count()
    try:
        own = user_provider_create(
            user_id=owner.user.pk, name=name, dialect=dialect, base_url=base_url, key=key
        )
    except DomainError as exc:
        assert exc.param in ("name", "dialect", "base_url", "key")
        assert UserProvider.objects.count() == before
        return
    assert own.slug.startswith("my-") and own.dialect in ("openai", "anthropic")
    assert provider_key_decrypt(own.key_encrypted) == key.strip()
    own.delete()
