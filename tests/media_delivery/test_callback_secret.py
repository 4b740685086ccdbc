"""The callback signing secret: made once on first use (concurrent first uses agree),
printed and rotated by ``manage.py callback_secret``, shown masked on the settings page
with the whole secret behind a reveal and a copy button, and rotated there by a POST with
CSRF (a GET or a forged POST changes nothing)."""

from __future__ import annotations

import re
import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client

from accounts.models import User
from accounts.services import callback_secret_get, callback_secret_rotate, user_create
from tests.console.conftest import PASSWORD, csrf_client

pytestmark = pytest.mark.django_db
SECRET = re.compile(r"whsec_[A-Za-z0-9_-]{43}")


@pytest.fixture
def owner(db: None) -> User:
    return user_create(email="owner@example.com", password=PASSWORD)


def secret_of(user: User) -> str:
    return User.objects.values_list("callback_secret", flat=True).get(pk=user.pk)


def test_made_on_first_use_then_kept(owner: User) -> None:
    assert secret_of(owner) == ""
    first = callback_secret_get(owner)
    assert SECRET.fullmatch(first)
    assert secret_of(owner) == first
    assert callback_secret_get(User.objects.get(pk=owner.pk)) == first
    rotated = callback_secret_rotate(owner)
    assert SECRET.fullmatch(rotated) and rotated != first
    assert secret_of(owner) == rotated == callback_secret_get(User.objects.get(pk=owner.pk))


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_uses_agree() -> None:
    user = user_create(email="race@example.com")
    barrier = threading.Barrier(6)
    seen: list[str] = []

    def use() -> None:
        try:
            barrier.wait()
            seen.append(callback_secret_get(User.objects.get(pk=user.pk)))
        finally:
            connection.close()

    threads = [threading.Thread(target=use) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 6 and set(seen) == {secret_of(user)}


def test_management_command(owner: User) -> None:
    out = StringIO()
    call_command("callback_secret", "Owner@Example.com", stdout=out)
    printed = out.getvalue().strip()
    assert SECRET.fullmatch(printed) and printed == secret_of(owner)
    out = StringIO()
    call_command("callback_secret", "owner@example.com", stdout=out)
    assert out.getvalue().strip() == printed
    out = StringIO()
    call_command("callback_secret", "owner@example.com", "--rotate", stdout=out)
    rotated = out.getvalue().strip()
    assert SECRET.fullmatch(rotated) and rotated != printed and rotated == secret_of(owner)
    with pytest.raises(CommandError, match=r"no user nobody@example\.com"):
        call_command("callback_secret", "nobody@example.com")


def test_settings_page_shows_it_masked_with_a_reveal(owner: User) -> None:
    client = Client()
    client.force_login(owner)
    page = client.get("/account/")
    assert page.status_code == 200
    html = page.content.decode()
    secret = secret_of(owner)
    assert SECRET.fullmatch(secret)
    masked = f"whsec_{'•' * 12}{secret[-4:]}"
    assert (
        f'id="callback-secret-masked" aria-label="Callback signing secret, masked">{masked}<'
        in html
    )
    assert f'<code class="secret" id="callback-secret-value">{secret}</code>' in html
    assert 'data-copy="#callback-secret-value"' in html
    assert html.index("<details") < html.index(secret) < html.index("</details>")
    assert "no-store" in page["Cache-Control"] or "no-cache" in page["Cache-Control"]


def test_rotation_needs_a_post_with_csrf(owner: User) -> None:
    client, token = csrf_client(owner, "/account/")
    before = secret_of(owner)
    assert client.get("/account/callback-secret/").status_code == 405
    assert client.post("/account/callback-secret/").status_code == 403  # no token
    assert secret_of(owner) == before
    response = client.post("/account/callback-secret/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 303
    assert response["Location"] == "/account/#callback-secret"
    after = secret_of(owner)
    assert SECRET.fullmatch(after) and after != before
    page = client.get("/account/").content.decode()
    assert "The callback signing secret is rotated" in page and after in page
    assert before not in page


def test_signed_out_is_sent_to_log_in(owner: User) -> None:
    before = callback_secret_get(owner)
    response = Client().post("/account/callback-secret/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert secret_of(owner) == before
