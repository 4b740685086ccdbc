"""The keys page: post/redirect/get shows a new key exactly once; each key's limits are
listed and edited on its own page, within the tier; CSRF and log-in are required."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from accounts.models import ApiKey, ApiKeyEvent, User
from accounts.services import apikey_create, user_create
from catalog.models import Model, ModelAlias
from tests.console.conftest import csrf_client

KEY_RE = re.compile(r"sk-[0-9a-f]{12}-[A-Za-z0-9_\-]{43}")


@pytest.fixture
def catalog_model(db: None) -> Model:
    model = Model.objects.create(public_id="acme/small", name="Acme Small")
    ModelAlias.objects.create(model=model, alias="small")
    return model


def test_create_redirects_and_the_next_get_shows_the_secret_once(owner: User) -> None:
    # given a signed-in user on the keys page (CSRF enforced, as in a browser)
    client, token = csrf_client(owner, "/keys/")
    # when they create a key
    resp = client.post("/keys/", {"name": "laptop", "csrfmiddlewaretoken": token})
    # then the POST answers 303 to the keys page, with no secret in its body
    assert resp.status_code == 303 and resp["Location"] == "/keys/"
    assert not KEY_RE.search(resp.content.decode())
    assert ApiKey.objects.filter(user=owner).count() == 1
    # and the GET it leads to shows the secret once, uncacheable, with a copy button
    shown = client.get("/keys/")
    assert "no-store" in shown["Cache-Control"]
    body = shown.content.decode()
    secrets = KEY_RE.findall(body)
    assert len(secrets) == 1
    assert "shown only this once" in body and 'data-copy="#new-secret"' in body
    key = ApiKey.objects.get(user=owner)
    assert secrets[0].startswith(f"sk-{key.prefix}-")
    # and it is gone from every session once shown
    assert secrets[0] not in repr(list(Session.objects.values_list("session_data")))
    # when the page is reloaded (a GET again): no secret, and still one key
    again = client.get("/keys/").content.decode()
    assert not KEY_RE.search(again) and f"sk-{key.prefix}-…" in again
    assert ApiKey.objects.filter(user=owner).count() == 1
    assert ApiKeyEvent.objects.filter(api_key=key, kind="created").count() == 1


def test_an_invalid_create_answers_the_form_with_its_errors_and_creates_nothing(
    owner: User,
) -> None:
    client, token = csrf_client(owner, "/keys/")
    resp = client.post("/keys/", {"allowed_ips": "300.1.1.1", "csrfmiddlewaretoken": token})
    assert resp.status_code == 200
    body = resp.content.decode()
    assert 'id="id_allowed_ips_error"' in body and "is not an IP address" in body
    assert ApiKey.objects.filter(user=owner).count() == 0


def test_keys_page_lists_last_use_allowlists_rate_limit_and_expiry(owner: User) -> None:
    # given a key with every limit, used once, and a user in Paris
    owner.time_zone = "Europe/Paris"
    owner.save()
    key = apikey_create(
        user=owner,
        name="ci",
        monthly_limit=3_000_000,
        allowed_models=["acme/small"],
        allowed_ips=["10.0.0.0/8"],
        rate_limit_rpm=30,
        expires_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
    ).api_key
    ApiKey.objects.filter(pk=key.pk).update(
        last_used_at=dt.datetime(2026, 12, 1, 22, 5, tzinfo=dt.UTC)
    )
    client = Client()
    client.force_login(owner)
    body = client.get("/keys/").content.decode()
    # then the page shows them, times in the user's zone with the offset
    assert "2026-12-01 23:05 (UTC+01:00)" in body  # last use, 22:05 UTC
    assert "2030-01-01 01:00 (UTC+01:00)" in body  # expiry, 00:00 UTC
    assert "acme/small" in body and "10.0.0.0/8" in body and "30 requests/min" in body
    assert "$0.00 / $3.00" in body
    assert f'href="/keys/{key.pk}/edit/"' in body
    # the spend from the rollups (none yet) against the limit, as a bar
    assert 'max="3000000"' in body and 'value="0"' in body


def test_edit_changes_the_limits_through_the_service(owner: User, catalog_model: Model) -> None:
    key = apikey_create(user=owner, name="old").api_key
    client, token = csrf_client(owner, f"/keys/{key.pk}/edit/")
    resp = client.post(
        f"/keys/{key.pk}/edit/",
        {
            "name": "renamed",
            "monthly_limit_usd": "1.5",
            "allowed_models": "small",
            "allowed_ips": "192.168.1.7, 10.0.0.0/8",
            "rate_limit_rpm": "20",
            "expires_on": (timezone.now().date() + dt.timedelta(days=10)).isoformat(),
            "csrfmiddlewaretoken": token,
        },
    )
    assert resp.status_code == 303 and resp["Location"] == "/keys/"
    key.refresh_from_db()
    assert key.name == "renamed" and key.monthly_limit == 1_500_000
    assert key.allowed_models == ["small"]
    assert key.allowed_ips == ["192.168.1.7/32", "10.0.0.0/8"]
    assert key.rate_limit_rpm == 20
    assert key.expires_at is not None and key.expires_at.time() == dt.time(0, 0)
    event = ApiKeyEvent.objects.get(api_key=key, kind="updated")
    assert sorted(event.detail["fields"]) == sorted(
        ["name", "monthly_limit", "allowed_models", "allowed_ips", "rate_limit_rpm", "expires_at"]
    )
    assert "is updated" in client.get("/keys/").content.decode()


def test_an_empty_rate_limit_gets_the_tier_s_ceiling_and_above_it_is_refused(
    owner: User,
) -> None:
    key = apikey_create(user=owner, rate_limit_rpm=10).api_key
    client = Client()
    client.force_login(owner)
    url = f"/keys/{key.pk}/edit/"
    # above the Pay-as-you-go ceiling (60/min): refused next to the field, nothing changes
    resp = client.post(url, {"name": "k", "rate_limit_rpm": "1000"})
    assert resp.status_code == 200
    body = resp.content.decode()
    assert 'id="id_rate_limit_rpm_error"' in body
    key.refresh_from_db()
    assert key.rate_limit_rpm == 10
    assert not ApiKeyEvent.objects.filter(api_key=key, kind="updated").exists()
    # empty: the ceiling
    assert client.post(url, {"name": "k", "rate_limit_rpm": ""}).status_code == 303
    key.refresh_from_db()
    assert key.rate_limit_rpm == 60


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("allowed_ips", "10.0.0.0/33", "is not an IP address"),
        ("allowed_models", "no/such-model", "Unknown model"),
        ("monthly_limit_usd", "-1", "greater than or equal to 0"),
        ("expires_on", "2001-01-01", "Choose a date after today"),
    ],
)
def test_edit_shows_each_error_next_to_its_field(
    owner: User, catalog_model: Model, field: str, value: str, message: str
) -> None:
    key = apikey_create(user=owner, name="same").api_key
    client = Client()
    client.force_login(owner)
    resp = client.post(f"/keys/{key.pk}/edit/", {"name": "changed", field: value})
    assert resp.status_code == 200
    body = resp.content.decode()
    # the error sits in the field's own block, right after its control
    block = re.search(
        rf'<div class="field has-error">\s*<label for="id_{field}".*?</div>', body, re.S
    )
    assert block is not None and message in block.group(0)
    key.refresh_from_db()
    assert key.name == "same"


def test_another_user_s_key_is_404_and_unchanged(owner: User) -> None:
    other = user_create(email="other@example.com")
    theirs = apikey_create(user=other, name="theirs", rate_limit_rpm=5).api_key
    client = Client()
    client.force_login(owner)
    assert client.get(f"/keys/{theirs.pk}/edit/").status_code == 404
    resp = client.post(f"/keys/{theirs.pk}/edit/", {"name": "mine", "rate_limit_rpm": "1"})
    assert resp.status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "theirs" and theirs.rate_limit_rpm == 5


def test_edit_needs_the_csrf_token_and_a_log_in(owner: User) -> None:
    key = apikey_create(user=owner, name="same").api_key
    client, token = csrf_client(owner, f"/keys/{key.pk}/edit/")
    assert client.post(f"/keys/{key.pk}/edit/", {"name": "x"}).status_code == 403
    key.refresh_from_db()
    assert key.name == "same"
    resp = client.post(f"/keys/{key.pk}/edit/", {"name": "x", "csrfmiddlewaretoken": token})
    assert resp.status_code == 303
    key.refresh_from_db()
    assert key.name == "x"
    anonymous = Client().get(f"/keys/{key.pk}/edit/")
    assert anonymous.status_code == 302
    assert anonymous["Location"] == f"/accounts/login/?next=/keys/{key.pk}/edit/"


def test_a_revoked_key_cannot_be_edited(owner: User) -> None:
    key = apikey_create(user=owner, name="gone").api_key
    ApiKey.objects.filter(pk=key.pk).update(is_disabled=True)
    client = Client()
    client.force_login(owner)
    resp = client.post(f"/keys/{key.pk}/edit/", {"name": "back"})
    assert resp.status_code == 303
    key.refresh_from_db()
    assert key.name == "gone"
