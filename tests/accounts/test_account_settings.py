"""Account settings: email (password re-entered, unique), password (session kept), time
zone (validated, used on every console page), and deletion (refused while a balance or a
hold remains, else keys revoked, the user deactivated and signed out). CSRF and log-in are
required on each."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.models import ApiKey, ApiKeyEvent, User
from accounts.services import apikey_create, user_create
from billing.models import CreditAccount, LedgerEntry
from billing.services import credits_grant, credits_release, credits_reserve
from tests.console.conftest import PASSWORD, csrf_client

POSTS = ["/account/email/", "/account/password/", "/account/time-zone/", "/account/delete/"]


@pytest.fixture
def signed_in(owner: User) -> Client:
    client = Client()
    client.force_login(owner)
    return client


def test_email_change_needs_the_password_and_a_free_address(owner: User, signed_in: Client) -> None:
    user_create(email="taken@example.com")
    # a wrong password: refused next to the password field
    resp = signed_in.post("/account/email/", {"email": "new@example.com", "password": "nope"})
    assert resp.status_code == 200
    assert 'id="email_password_error"' in resp.content.decode()
    # someone else's address, in other letters: refused next to the email field
    resp = signed_in.post("/account/email/", {"email": "Taken@Example.com", "password": PASSWORD})
    assert 'id="email_email_error"' in resp.content.decode()
    owner.refresh_from_db()
    assert owner.email == "owner@example.com"
    # right: changed (lower-cased), and the new address logs in
    resp = signed_in.post("/account/email/", {"email": "New@Example.com", "password": PASSWORD})
    assert resp.status_code == 303 and resp["Location"] == "/account/"
    owner.refresh_from_db()
    assert owner.email == "new@example.com"
    assert Client().login(username="new@example.com", password=PASSWORD)


def test_password_change_keeps_this_session_and_ends_the_others(
    owner: User, signed_in: Client
) -> None:
    other_device = Client()
    other_device.force_login(owner)
    new = "another-long-passphrase-42"
    resp = signed_in.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert resp.status_code == 303
    assert signed_in.get("/account/").status_code == 200  # still signed in
    assert other_device.get("/account/").status_code == 302  # signed out
    assert Client().login(username=owner.email, password=new)
    assert not Client().login(username=owner.email, password=PASSWORD)


def test_password_change_errors_sit_next_to_the_fields(owner: User, signed_in: Client) -> None:
    resp = signed_in.post(
        "/account/password/",
        {"old_password": "wrong", "new_password1": "12345678", "new_password2": "12345678"},
    )
    body = resp.content.decode()
    assert 'id="pw_old_password_error"' in body and 'id="pw_new_password2_error"' in body
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)


def test_time_zone_is_validated_and_used_for_console_times(owner: User, signed_in: Client) -> None:
    assert owner.time_zone == "UTC"
    resp = signed_in.post("/account/time-zone/", {"time_zone": "Mars/Olympus_Mons"})
    assert resp.status_code == 200 and 'id="tz_time_zone_error"' in resp.content.decode()
    owner.refresh_from_db()
    assert owner.time_zone == "UTC"
    resp = signed_in.post("/account/time-zone/", {"time_zone": "Asia/Kolkata"})
    assert resp.status_code == 303
    owner.refresh_from_db()
    assert owner.time_zone == "Asia/Kolkata"
    # the keys page shows the key's creation day with the zone's offset
    apikey_create(user=owner, name="k")
    assert "(UTC+05:30)" in signed_in.get("/keys/").content.decode()


def test_deletion_is_refused_while_a_hold_or_a_balance_remains(
    owner: User, signed_in: Client
) -> None:
    key = apikey_create(user=owner, name="k").api_key
    credits_grant(user_id=owner.pk, amount=2_000_000, reference="t")
    account = CreditAccount.objects.get(user=owner)
    hold = credits_reserve(
        account_id=account.pk,
        api_key_id=key.pk,
        monthly_limit=None,
        amount=500_000,
        request_id="gen-test",
        ttl_seconds=60,
    )
    # with a hold: refused, saying so, and the settings page says so too
    resp = signed_in.post("/account/delete/", {"password": PASSWORD})
    assert resp.status_code == 200
    assert "500,000 credits ($0.50) are held" in resp.content.decode()
    assert "500,000 credits ($0.50) are held" in signed_in.get("/account/").content.decode()
    # with a balance only: refused, naming it
    credits_release(hold=hold)
    resp = signed_in.post("/account/delete/", {"password": PASSWORD})
    assert "balance of 2,000,000 credits ($2.00)" in resp.content.decode()
    owner.refresh_from_db()
    assert owner.is_active and owner.email == "owner@example.com"
    assert ApiKey.objects.get(pk=key.pk).is_disabled is False


def test_deletion_at_zero_revokes_keys_deactivates_and_signs_out(
    owner: User, signed_in: Client
) -> None:
    keys = [apikey_create(user=owner, name=f"k{i}") for i in range(2)]
    credits_grant(user_id=owner.pk, amount=1_000, reference="t")
    credits_grant(user_id=owner.pk, amount=-1_000, kind=LedgerEntry.Kind.ADJUSTMENT, reference="z")
    # the wrong password: nothing happens
    resp = signed_in.post("/account/delete/", {"password": "wrong"})
    assert resp.status_code == 200 and 'id="delete_password_error"' in resp.content.decode()
    assert User.objects.get(pk=owner.pk).is_active
    # the right one: deleted
    resp = signed_in.post("/account/delete/", {"password": PASSWORD})
    assert resp.status_code == 303 and resp["Location"] == "/accounts/login/"
    user = User.objects.get(pk=owner.pk)
    assert not user.is_active and not user.is_api_enabled and not user.has_usable_password()
    assert user.email == f"deleted-{owner.pk}@deleted.invalid"
    assert ApiKey.objects.filter(user=user, is_disabled=False).count() == 0
    assert ApiKeyEvent.objects.filter(api_key__user=user, kind="revoked").count() == 2
    # signed out, the keys refused, the ledger kept, and the address free for a new sign-up
    assert signed_in.get("/account/").status_code == 302
    for created in keys:
        auth = {"HTTP_AUTHORIZATION": f"Bearer {created.secret}"}
        assert Client().get("/v1/key", **auth).status_code == 401
    assert LedgerEntry.objects.filter(account__user=user).count() == 2
    assert not Client().login(username="owner@example.com", password=PASSWORD)
    assert user_create(email="owner@example.com", password=PASSWORD).pk != owner.pk


@pytest.mark.parametrize("path", POSTS)
def test_every_settings_post_needs_the_csrf_token(owner: User, path: str) -> None:
    client, token = csrf_client(owner, "/account/")
    data = {"email": "x@example.com", "password": PASSWORD, "time_zone": "Europe/Paris"}
    assert client.post(path, data).status_code == 403
    owner.refresh_from_db()
    assert owner.email == "owner@example.com" and owner.time_zone == "UTC" and owner.is_active
    # with the token the same request goes through (here: the time zone)
    if path == "/account/time-zone/":
        assert client.post(path, {**data, "csrfmiddlewaretoken": token}).status_code == 303


@pytest.mark.parametrize("path", ["/account/", *POSTS])
def test_settings_need_a_log_in(db: None, path: str) -> None:
    resp = Client().get(path) if path == "/account/" else Client().post(path, {})
    assert resp.status_code == 302
    assert resp["Location"] == f"/accounts/login/?next={path}"


def test_the_settings_page_s_element_ids_are_unique(owner: User, signed_in: Client) -> None:
    body = signed_in.get("/account/").content.decode()
    ids = re.findall(r'\sid="([^"]+)"', body)
    assert len(ids) > 8 and len(ids) == len(set(ids))
    assert "autofocus" not in body  # the page opens at its top
