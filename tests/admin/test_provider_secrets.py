"""Where a provider's credential goes is for superusers only: staff holding
``change_provider`` / ``add_provider`` cannot set a provider's ``base_url`` or
``api_key_env``, and nobody can point a key variable at one of the gateway's settings."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from accounts.models import User
from catalog.models import Provider
from tests.admin.rows import Registry
from tests.factories import FAKE_KEY_ENV, AccountFactory, ModelFactory
from tests.fakes.upstream import FakeUpstream
from tests.helpers import ApiClient, chat_body

DJANGO_SECRET = "the-django-secret-key-value-0123456789"


def staff_with(*codenames: str) -> Client:
    user = User.objects.create_user("staff@example.com", "irrelevant-pass-4")
    user.is_staff = True
    user.save()
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="catalog", codename__in=codenames)
    )
    client = Client()
    client.force_login(user)
    return client


def provider_form(provider: Provider, **changes: str) -> dict[str, Any]:
    data = {
        "slug": provider.slug,
        "name": provider.name,
        "dialect": provider.dialect,
        "base_url": provider.base_url,
        "api_key_env": provider.api_key_env,
        "is_enabled": "on",
    }
    return {**data, **changes}


@pytest.fixture
def listener() -> Iterator[FakeUpstream]:
    """A server of the attacker's, recording what reaches it."""
    server = FakeUpstream().start()
    yield server
    server.stop()


def test_staff_with_change_provider_sees_both_fields_read_only(registry: Registry) -> None:
    client = staff_with("view_provider", "change_provider")
    resp = client.get(reverse("admin:catalog_provider_change", args=[registry.provider.pk]))
    assert resp.status_code == 200
    form = resp.context["adminform"].form
    assert "base_url" not in form.fields and "api_key_env" not in form.fields
    assert "name" in form.fields


def test_staff_cannot_point_a_provider_at_their_listener_with_the_secret_key(
    api: ApiClient,
    make_model: ModelFactory,
    make_account: AccountFactory,
    upstream: FakeUpstream,
    listener: FakeUpstream,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given the reproducer: a staff user with only change_provider, the gateway's
    # DJANGO_SECRET_KEY in the environment, and a provider in use
    monkeypatch.setenv("DJANGO_SECRET_KEY", DJANGO_SECRET)
    make_model("test/echo")
    provider = Provider.objects.get(slug="fake")
    client = staff_with("view_provider", "change_provider")
    # when they set base_url to their listener and api_key_env to DJANGO_SECRET_KEY
    resp = client.post(
        reverse("admin:catalog_provider_change", args=[provider.pk]),
        provider_form(
            provider,
            name="Renamed",
            base_url=listener.url + "/v1",
            api_key_env="DJANGO_SECRET_KEY",
        ),
    )
    # then the save went through for the fields they may change, and only those
    assert resp.status_code == 302
    provider.refresh_from_db()
    assert provider.name == "Renamed"
    assert (provider.base_url, provider.api_key_env) == (upstream.url + "/v1", FAKE_KEY_ENV)
    # and the next API call goes to the real upstream with the provider's own key
    account = make_account(1_000_000)
    assert api.post("/v1/chat/completions", chat_body(), account=account).status_code == 200
    assert listener.requests == []
    assert upstream.requests[-1]["headers"]["Authorization"] == "Bearer upstream-secret"
    assert all(DJANGO_SECRET not in str(r) for r in upstream.requests)


def test_staff_with_add_provider_cannot_set_them_on_add(registry: Registry) -> None:
    client = staff_with("view_provider", "add_provider")
    resp = client.post(
        reverse("admin:catalog_provider_add"),
        {
            "slug": "new",
            "name": "New",
            "dialect": "openai",
            "base_url": "http://127.0.0.1:1/v1",
            "api_key_env": "DJANGO_SECRET_KEY",
            "is_enabled": "on",
        },
    )
    assert resp.status_code == 302
    created = Provider.objects.get(slug="new")
    assert (created.base_url, created.api_key_env) == ("", "")


def test_superuser_may_change_both(staff_client: Client, registry: Registry) -> None:
    provider = registry.provider
    resp = staff_client.post(
        reverse("admin:catalog_provider_change", args=[provider.pk]),
        provider_form(provider, base_url="https://acme2.test/v1", api_key_env="ACME2_API_KEY"),
    )
    assert resp.status_code == 302
    provider.refresh_from_db()
    assert (provider.base_url, provider.api_key_env) == ("https://acme2.test/v1", "ACME2_API_KEY")


@pytest.mark.parametrize("name", ["DJANGO_SECRET_KEY", "DATABASE_URL", "STRIPE_SECRET_KEY"])
def test_not_even_a_superuser_may_name_a_gateway_setting(
    staff_client: Client, registry: Registry, name: str
) -> None:
    provider = registry.provider
    resp = staff_client.post(
        reverse("admin:catalog_provider_change", args=[provider.pk]),
        provider_form(provider, api_key_env=name),
    )
    assert resp.status_code == 200  # the form again, with the error
    assert "api_key_env" in resp.context["adminform"].form.errors
    provider.refresh_from_db()
    assert provider.api_key_env == "ACME_TEST_API_KEY"


def test_changelist_never_reads_a_forbidden_variable(
    staff_client: Client, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a row naming DJANGO_SECRET_KEY (written around validation), which is set
    monkeypatch.setenv("DJANGO_SECRET_KEY", DJANGO_SECRET)
    Provider.objects.filter(pk=registry.provider.pk).update(api_key_env="DJANGO_SECRET_KEY")
    # when the changelist renders, then its "key set" column says no
    resp = staff_client.get(reverse("admin:catalog_provider_changelist"))
    assert resp.status_code == 200
    cells = re.findall(r'<td class="field-key_is_set">(.*?)</td>', resp.content.decode())
    assert len(cells) == 1 and 'alt="False"' in cells[0]
