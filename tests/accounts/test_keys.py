"""API keys: shown once, stored only as a SHA-256, revoked at once; and the two management
commands that hand out keys and credits."""

from __future__ import annotations

import hashlib
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.keys import key_prefix
from accounts.models import ApiKey, ApiKeyEvent, User
from accounts.services import apikey_create, apikey_revoke, user_create
from billing.models import LedgerEntry
from tests.factories import AccountFactory, ModelFactory
from tests.helpers import ApiClient, assert_error, chat_body

URL = "/v1/chat/completions"


def test_revoked_key_is_refused_on_the_very_next_request(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory
) -> None:
    # given a key that has just been served
    make_model("test/echo")
    account = make_account(1_000_000)
    assert api.post(URL, chat_body(), account=account).status_code == 200
    balance = account.balance()
    # when it is revoked
    apikey_revoke(api_key=account.key, actor=account.user)
    # then the next request is refused and costs nothing, and the revocation is audited
    assert_error(api.post(URL, chat_body(), account=account), 401, "invalid_api_key")
    assert account.balance() == balance and account.held() == 0
    assert ApiKey.objects.get(pk=account.key.pk).is_disabled is True
    kinds = list(
        ApiKeyEvent.objects.filter(api_key=account.key)
        .order_by("id")
        .values_list("kind", flat=True)
    )
    assert kinds == ["created", "revoked"]


def test_revoking_one_key_leaves_the_others_working(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory
) -> None:
    make_model("test/echo")
    account = make_account(1_000_000)
    second = apikey_create(user=account.user, name="second")
    apikey_revoke(api_key=account.key)
    resp = api.post(URL, chat_body(), HTTP_AUTHORIZATION=f"Bearer {second.secret}")
    assert resp.status_code == 200, resp.content


def test_use_is_recorded_at_most_once_a_minute(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory
) -> None:
    # given a key never used
    make_model("test/echo")
    account = make_account(1_000_000)
    assert ApiKey.objects.get(pk=account.key.pk).last_used_at is None
    # when it is used twice in a row
    before = timezone.now()
    assert api.post(URL, chat_body(), account=account).status_code == 200
    first = ApiKey.objects.get(pk=account.key.pk).last_used_at
    assert api.get("/v1/key", account=account).status_code == 200
    # then the first use is recorded and the second, seconds later, does not write again
    assert first is not None and first >= before
    assert ApiKey.objects.get(pk=account.key.pk).last_used_at == first


def test_key_is_shown_once_and_only_its_sha256_is_stored(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory
) -> None:
    # given a key created and used once
    make_model("test/echo")
    account = make_account(1_000_000, name="laptop")
    assert api.post(URL, chat_body(), account=account).status_code == 200
    secret = account.secret
    random_part = secret.split("-", 2)[2]
    # then the key has the documented form, and its hash is what is stored
    assert secret.startswith("sk-") and key_prefix(secret) == account.key.prefix
    assert len(random_part) >= 43
    stored = ApiKey.objects.get(pk=account.key.pk)
    assert stored.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    # and neither the key nor its random part appears in any column of any key row
    rows = list(ApiKey.objects.values()) + list(ApiKeyEvent.objects.values())
    assert len(rows) >= 2
    for row in rows:
        for column, value in row.items():
            assert secret not in str(value), column
            assert random_part not in str(value), column


def test_no_table_holds_the_key(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory
) -> None:
    # given a key that made a billed request (ledger, generation, spend rows exist)
    make_model("test/echo")
    account = make_account(1_000_000, monthly_limit=1_000_000)
    assert api.post(URL, chat_body(), account=account).status_code == 200
    random_part = account.secret.split("-", 2)[2]
    # then no row of any model contains it
    scanned = 0
    for model in apps.get_models():
        for row in model._default_manager.values():
            scanned += 1
            assert random_part not in str(row), model.__name__
    assert scanned > 5


def test_apikey_create_command_prints_only_a_working_key(
    api: ApiClient, make_model: ModelFactory, db: None
) -> None:
    make_model("test/echo")
    out, err = StringIO(), StringIO()
    # when
    call_command("apikey_create", "New@Example.com", "--create-user", stdout=out, stderr=err)
    # then stdout is exactly one line: the key
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    key = lines[0]
    assert key.startswith("sk-") and key_prefix(key) is not None
    assert err.getvalue() == ""
    user = User.objects.get(email="new@example.com")
    assert ApiKey.objects.filter(user=user).count() == 1
    # and the key authenticates (the new user has no credits yet)
    assert_error(
        api.post(URL, chat_body(), HTTP_AUTHORIZATION=f"Bearer {key}"), 402, "insufficient_credits"
    )
    info = api.get("/v1/key", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert info.status_code == 200 and info.json()["data"]["balance"] == 0


def test_apikey_create_command_with_a_monthly_limit(db: None) -> None:
    user_create(email="limited@example.com")
    out = StringIO()
    call_command("apikey_create", "limited@example.com", "--monthly-limit", "2500", stdout=out)
    key = ApiKey.objects.get(user__email="limited@example.com")
    assert key.monthly_limit == 2_500
    assert out.getvalue().strip().startswith(f"sk-{key.prefix}-")


def test_apikey_create_command_refuses_an_unknown_user(db: None) -> None:
    with pytest.raises(CommandError):
        call_command("apikey_create", "ghost@example.com", stdout=StringIO())
    assert User.objects.filter(email="ghost@example.com").count() == 0


def test_credits_grant_command_prints_the_new_balance(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory
) -> None:
    # given an account with 1,000 credits
    make_model("test/echo")
    account = make_account(1_000, email="payer@example.com")
    out = StringIO()
    # when 123 credits are granted
    call_command("credits_grant", "payer@example.com", "123", "--reason", "x", stdout=out)
    # then the new balance is printed and recorded in the ledger
    assert out.getvalue().strip() == "1123"
    assert account.balance() == 1_123
    entry = LedgerEntry.objects.filter(account=account.user.credit_account).first()
    assert entry is not None
    assert (entry.kind, entry.amount, entry.memo, entry.balance_after) == ("grant", 123, "x", 1_123)


def test_credits_grant_command_needs_a_reason_and_a_user(db: None) -> None:
    user_create(email="someone@example.com")
    with pytest.raises(CommandError):
        call_command("credits_grant", "someone@example.com", "5", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("credits_grant", "nobody@example.com", "5", "--reason", "x")
    assert LedgerEntry.objects.count() == 0
