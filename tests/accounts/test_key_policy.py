"""The account's tier caps every key, whichever path makes it: the console, ``manage.py
apikey_create`` (``--ignore-tier`` is the operator's audited override) and the admin's
edit of a key's rate limit. Pay as you go allows 5 usable keys of at most 60 requests/min;
Builder 50 of 600."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from accounts.models import ApiKey, ApiKeyEvent, User
from accounts.services import apikey_create, apikey_revoke, user_create
from billing.models_payments import BillingProfile
from billing.tiers import tiers_all
from config.errors import DomainError
from gateway.api.errors import api_error_of

PAYG = tiers_all()[0]


def create(email: str, *args: str) -> str:
    """``manage.py apikey_create EMAIL ARGS``: what it printed."""
    out = StringIO()
    call_command("apikey_create", email, *args, stdout=out)
    return out.getvalue()


def keys_of(user: User) -> int:
    return ApiKey.objects.filter(user=user, is_disabled=False).count()


def full_payg_account(email: str = "full@example.com") -> User:
    """A Pay-as-you-go user holding its 5 usable keys (and one revoked, which does not
    count)."""
    user = user_create(email=email)
    apikey_revoke(api_key=apikey_create(user=user, name="old").api_key)
    for n in range(PAYG.max_keys):
        apikey_create(user=user, name=f"k{n}")
    assert keys_of(user) == PAYG.max_keys == 5
    return user


def test_the_service_refuses_a_key_over_the_tiers_count(db: None) -> None:
    user = full_payg_account()
    # when a sixth usable key is asked for
    with pytest.raises(DomainError) as refused:
        apikey_create(user=user, name="sixth")
    # then it is refused with the tier's reason, and nothing was written
    assert refused.value.code == "key_limit"
    assert refused.value.message == "The Pay as you go tier allows 5 keys: revoke one first"
    assert keys_of(user) == 5
    assert ApiKeyEvent.objects.filter(api_key__user=user).count() == 7  # 6 created, 1 revoked


def test_key_limit_answers_403_in_the_apis_error_mapping() -> None:
    err = api_error_of(DomainError("key_limit", "The Pay as you go tier allows 5 keys"))
    assert (err.status, err.code) == (403, "key_limit")


def test_the_command_exits_with_the_reason_at_the_tiers_count(db: None) -> None:
    full_payg_account()
    out = StringIO()
    # when the command is asked for a sixth key
    with pytest.raises(CommandError) as refused:
        call_command("apikey_create", "full@example.com", "--name", "sixth", stdout=out)
    # then it fails (manage.py exits 1) saying why, and prints no key
    assert str(refused.value) == "The Pay as you go tier allows 5 keys: revoke one first"
    assert refused.value.returncode == 1
    assert out.getvalue() == ""
    assert ApiKey.objects.filter(name="sixth").count() == 0


def test_the_command_gives_the_tiers_ceiling_and_refuses_more(db: None) -> None:
    user = user_create(email="rate@example.com")
    # when no rate limit is given: the tier's ceiling, not an unlimited key
    call_command("apikey_create", "rate@example.com", "--name", "plain", stdout=StringIO())
    assert ApiKey.objects.get(user=user, name="plain").rate_limit_rpm == 60
    # when one above the ceiling is asked for: refused, nothing created
    with pytest.raises(CommandError, match="at most 60 requests per minute per key"):
        call_command("apikey_create", "rate@example.com", "--rate-limit", "61", stdout=StringIO())
    assert keys_of(user) == 1
    # and one within it is kept as asked
    create("rate@example.com", "--name", "slow", "--rate-limit", "10")
    assert ApiKey.objects.get(user=user, name="slow").rate_limit_rpm == 10
    # when an admin set Builder: its ceiling
    BillingProfile.objects.create(account=user.credit_account, tier="builder")
    create("rate@example.com", "--name", "fast", "--rate-limit", "600")
    create("rate@example.com", "--name", "unset")
    assert ApiKey.objects.get(user=user, name="fast").rate_limit_rpm == 600
    assert ApiKey.objects.get(user=user, name="unset").rate_limit_rpm == 600
    with pytest.raises(CommandError, match="at most 600"):
        call_command("apikey_create", "rate@example.com", "--rate-limit", "601", stdout=StringIO())


def test_a_refused_key_leaves_no_user_made_by_create_user(db: None) -> None:
    with pytest.raises(CommandError, match="at most 60 requests per minute per key"):
        create("new@example.com", "--create-user", "--rate-limit", "61")
    assert User.objects.filter(email="new@example.com").count() == 0
    assert ApiKey.objects.count() == 0


def test_the_command_refuses_a_rate_limit_below_one(db: None) -> None:
    user_create(email="zero@example.com")
    with pytest.raises(CommandError, match="--rate-limit must be >= 1"):
        call_command("apikey_create", "zero@example.com", "--rate-limit", "0", stdout=StringIO())
    assert ApiKey.objects.count() == 0


def test_ignore_tier_is_the_operators_audited_override(db: None) -> None:
    user = full_payg_account("operator@example.com")
    out = StringIO()
    # when the operator passes --ignore-tier
    call_command(
        "apikey_create", "operator@example.com", "--name", "ops", "--ignore-tier", stdout=out
    )
    # then the sixth key exists, with no rate limit, and its audit row says how it was made
    key = ApiKey.objects.get(user=user, name="ops")
    assert out.getvalue().strip().startswith(f"sk-{key.prefix}-")
    assert key.rate_limit_rpm is None
    assert keys_of(user) == 6
    event = ApiKeyEvent.objects.get(api_key=key, kind=ApiKeyEvent.Kind.CREATED)
    assert event.detail == {"name": "ops", "prefix": key.prefix, "ignore_tier": True}
    # and a key made without it still counts the keys
    with pytest.raises(CommandError, match="allows 5 keys"):
        call_command("apikey_create", "operator@example.com", stdout=StringIO())
    assert keys_of(user) == 6


def _admin_edit(client: Client, key: ApiKey, rate_limit_rpm: str) -> object:
    return client.post(
        reverse("admin:accounts_apikey_change", args=[key.pk]),
        {
            "name": key.name,
            "monthly_limit": "",
            "allowed_models": "[]",
            "allowed_ips": "[]",
            "rate_limit_rpm": rate_limit_rpm,
            "expires_at_0": "",
            "expires_at_1": "",
            "events-TOTAL_FORMS": "0",
            "events-INITIAL_FORMS": "0",
        },
    )


def test_the_admin_keeps_a_keys_rate_limit_within_the_tier(db: None) -> None:
    staff = user_create(email="root@example.com", password="irrelevant-pass-1", is_staff=True)
    client = Client()
    client.force_login(staff)
    user = user_create(email="edited@example.com")
    key = apikey_create(user=user, name="k", rate_limit_rpm=30).api_key
    # when staff raise a Pay-as-you-go key above 60/min: a validation error, nothing saved
    page = _admin_edit(client, key, "61")
    assert page.status_code == 200  # the form again, with its error
    assert b"The Pay as you go tier allows at most 60 requests per minute per key" in page.content
    key.refresh_from_db()
    assert key.rate_limit_rpm == 30
    assert not ApiKeyEvent.objects.filter(api_key=key, kind=ApiKeyEvent.Kind.UPDATED).exists()
    # when they clear it: the tier's ceiling, not an unlimited key
    assert _admin_edit(client, key, "").status_code == 302
    key.refresh_from_db()
    assert key.rate_limit_rpm == 60
    # when they set the account's tier to Builder instead, 600 is accepted
    BillingProfile.objects.create(account=user.credit_account, tier="builder")
    assert _admin_edit(client, key, "600").status_code == 302
    key.refresh_from_db()
    assert key.rate_limit_rpm == 600
    # and on Enterprise a cleared limit means none
    BillingProfile.objects.filter(account=user.credit_account).update(tier="enterprise")
    assert _admin_edit(client, key, "").status_code == 302
    key.refresh_from_db()
    assert key.rate_limit_rpm is None
