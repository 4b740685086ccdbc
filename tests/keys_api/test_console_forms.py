"""The console's key forms and ``apikey_create`` with the kinds and a limit that never
resets: a management key refuses a spend limit or a model allowlist beside the field (and
nothing is made), its edit form has neither, and ``never`` is taken by the form and the
command."""

from __future__ import annotations

from django.core.management import call_command
from django.test import Client

from accounts.models import ApiKey, ApiKeyEvent
from accounts.services import user_create


def _console(email: str) -> tuple[Client, object]:
    user = user_create(email=email, password="a long enough password 1")
    client = Client()
    client.force_login(user)
    return client, user


def test_a_management_key_takes_no_spend_limit_nor_models(db: None) -> None:
    client, user = _console("forms@example.com")
    page = client.get("/keys/").content.decode()
    assert 'name="kind"' in page and 'data-kind-only="inference"' in page
    for field, value in (("monthly_limit_usd", "5"), ("allowed_models", "anything")):
        resp = client.post("/keys/", {"kind": "management", "name": "m", field: value})
        assert resp.status_code == 200
        assert "A management key calls no model" in resp.content.decode()
    assert not ApiKey.objects.filter(user=user).exists()
    resp = client.post("/keys/", {"kind": "management", "name": "m", "allowed_ips": "10.0.0.0/8"})
    assert resp.status_code == 303
    key = ApiKey.objects.get(user=user, name="m")
    assert (key.kind, key.allowed_ips, key.monthly_limit) == ("management", ["10.0.0.0/8"], None)
    edit = client.get(f"/keys/{key.pk}/edit/").content.decode()
    assert 'name="monthly_limit_usd"' not in edit and 'name="allowed_models"' not in edit
    resp = client.post(
        f"/keys/{key.pk}/edit/",
        {"name": "m2", "allowed_ips": "10.0.0.0/8", "rate_limit_rpm": str(key.rate_limit_rpm)},
    )
    assert resp.status_code == 303
    key.refresh_from_db()
    assert (key.name, key.kind, key.monthly_limit) == ("m2", "management", None)
    kinds = ApiKeyEvent.objects.filter(api_key=key).order_by("id").values_list("kind", flat=True)
    assert list(kinds) == ["created", "updated"]
    # a bad kind is refused beside the field
    resp = client.post("/keys/", {"kind": "root", "name": "x"})
    assert resp.status_code == 200 and not ApiKey.objects.filter(name="x").exists()


def test_never_from_the_form_and_the_command(db: None) -> None:
    client, user = _console("never@example.com")
    resp = client.post("/keys/", {"name": "n", "monthly_limit_usd": "2", "limit_reset": "never"})
    assert resp.status_code == 303
    key = ApiKey.objects.get(user=user, name="n")
    assert (key.kind, key.limit_reset, key.monthly_limit) == ("inference", "never", 2_000_000)
    assert "in all (never resets)" in client.get("/keys/").content.decode()
    call_command(
        "apikey_create",
        "never@example.com",
        "--name",
        "cli",
        "--limit",
        "5",
        "--limit-reset",
        "never",
    )
    assert ApiKey.objects.get(user=user, name="cli").limit_reset == "never"
