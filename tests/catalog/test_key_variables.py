"""A provider's key variable may never name one of the gateway's own settings, whichever
way the row is written: the model's validation (the admin form), the catalog import and
its command, and at call time for a row written around both (raw SQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection

from catalog.models import Provider
from catalog.services import CatalogError, catalog_import
from catalog.validators import api_key_env_refusal
from tests.factories import FAKE_KEY_ENV, Account, AccountFactory, ModelFactory
from tests.fakes.upstream import FakeUpstream
from tests.helpers import ApiClient, assert_error, assert_not_charged, chat_body

ENV_EXAMPLE = Path(settings.BASE_DIR) / ".env.example"


def env_example_sections() -> tuple[list[str], list[str]]:
    """(the gateway's settings, the provider keys) as .env.example lists them, read here
    independently of the code under test."""
    own: list[str] = []
    keys: list[str] = []
    target = own
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.startswith("# --- Upstream credentials"):
            target = keys
        elif "=" in line and not line.startswith("#"):
            target.append(line.split("=", 1)[0].strip())
    return own, keys


def test_every_setting_in_env_example_is_refused_and_every_provider_key_allowed() -> None:
    own, keys = env_example_sections()
    assert len(own) >= 30 and {"DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL"} <= set(own)
    assert {name for name in own if api_key_env_refusal(name) is None} == set()
    assert {name.lower() for name in own if api_key_env_refusal(name.lower()) is None} == set()
    assert keys == ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"]
    assert [api_key_env_refusal(name) for name in keys] == [None, None, None]


@pytest.mark.parametrize(
    "name",
    [
        "DJANGO_SECRET_KEY",
        "DJANGO_ANYTHING_NEW",
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_KEY",
        "EMAIL_HOST_PASSWORD",
        "my_redis_url",
        "AWS_SECRET_ACCESS_KEY",
        "PGPASSWORD",
        "DATABASE_REPLICA_URL",
        "GATEWAY_FUTURE_SETTING",
        "DB_PASS",
        "NOT-A-NAME",
        "A B",
        "1ABC",
    ],
)
def test_forbidden_or_malformed_key_variables_are_refused(db: None, name: str) -> None:
    assert api_key_env_refusal(name) is not None
    provider = Provider(slug="p", dialect="openai", base_url="https://x.test", api_key_env=name)
    with pytest.raises(ValidationError) as caught:
        provider.full_clean()
    assert "api_key_env" in caught.value.message_dict


@pytest.mark.parametrize("name", ["", "OPENAI_API_KEY", "MISTRAL_API_KEY", FAKE_KEY_ENV])
def test_provider_key_variables_are_allowed(db: None, name: str) -> None:
    assert api_key_env_refusal(name) is None
    Provider(slug="p", dialect="openai", base_url="https://x.test", api_key_env=name).full_clean()


def provider_entry(**fields: str) -> dict:
    return {
        "providers": [
            {"slug": "evil", "dialect": "openai", "base_url": "https://x.test/v1", **fields}
        ]
    }


@pytest.mark.parametrize("name", ["DJANGO_SECRET_KEY", "DATABASE_URL", "STRIPE_SECRET_KEY"])
def test_catalog_import_refuses_a_settings_variable_and_writes_nothing(db: None, name: str) -> None:
    with pytest.raises(CatalogError, match=r"providers\[0\]\.api_key_env"):
        catalog_import(data=provider_entry(api_key_env=name))
    assert Provider.objects.count() == 0


def test_catalog_import_refuses_a_base_url_that_is_not_http(db: None) -> None:
    with pytest.raises(CatalogError, match=r"providers\[0\]\.base_url"):
        catalog_import(data=provider_entry(base_url="file:///etc/passwd"))
    assert Provider.objects.count() == 0


def test_catalog_import_command_refuses_it_too(db: None, tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(provider_entry(api_key_env="DJANGO_SECRET_KEY")))
    with pytest.raises(CommandError, match="DJANGO_SECRET_KEY"):
        call_command("catalog_import", str(path))
    assert Provider.objects.count() == 0


def test_a_row_written_by_raw_sql_fails_closed_at_call_time(
    api: ApiClient,
    make_model: ModelFactory,
    make_account: AccountFactory,
    upstream: FakeUpstream,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a provider row pointed at DJANGO_SECRET_KEY by SQL (no validation ran), with
    # that variable set in the process
    make_model("test/echo")
    monkeypatch.setenv("DJANGO_SECRET_KEY", "the-django-secret-key-value")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE catalog_provider SET api_key_env = %s WHERE slug = %s",
            ["DJANGO_SECRET_KEY", "fake"],
        )
    from catalog.selectors import catalog_invalidate

    catalog_invalidate()
    account: Account = make_account(1_000_000)
    # when a request goes to it
    resp = api.post("/v1/chat/completions", chat_body(), account=account)
    # then the variable is never read nor sent: the provider is not configured
    error = assert_error(resp, 503, "provider_not_configured")
    assert "the-django-secret-key-value" not in resp.content.decode()
    assert "gateway's own settings" in error["message"]
    assert upstream.requests == []
    assert_not_charged(account, 1_000_000)
