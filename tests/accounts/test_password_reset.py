"""Password reset through Django's auth views and email backend (locmem in tests): the
email's link sets a new password once; requests are throttled per email and per address;
the log-in page links to it; CSRF is enforced."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import Client, override_settings

from accounts.models import User
from tests.console.conftest import PASSWORD

LINK_RE = re.compile(r"http://testserver(/accounts/password/reset/[^/\s]+/[^/\s]+/)")
NEW = "a-brand-new-passphrase-77"


@pytest.fixture(autouse=True)
def _empty_counters() -> None:
    cache.clear()


def test_the_emailed_link_sets_a_new_password_once(owner: User) -> None:
    client = Client()
    # the log-in page links to the reset
    assert 'href="/accounts/password/reset/"' in client.get("/accounts/login/").content.decode()
    # when the user asks for a reset (in other letters)
    resp = client.post("/accounts/password/reset/", {"email": "Owner@Example.com"})
    assert resp.status_code == 302 and resp["Location"] == "/accounts/password/reset/sent/"
    # then one email goes to them, from the configured sender, with a link
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["owner@example.com"]
    assert message.subject == "Reset your Gateway password"
    assert message.from_email == "Gateway <noreply@localhost>"
    link = LINK_RE.search(message.body)
    assert link is not None
    # the link leads to the new-password form (Django moves the token into the session)
    form = client.get(link.group(1), follow=True)
    assert form.status_code == 200 and "Choose a new password" in form.content.decode()
    url = form.redirect_chain[-1][0]
    resp = client.post(url, {"new_password1": NEW, "new_password2": NEW})
    assert resp.status_code == 302 and resp["Location"] == "/accounts/password/reset/complete/"
    assert Client().login(username="owner@example.com", password=NEW)
    assert not Client().login(username="owner@example.com", password=PASSWORD)
    # and the same link does not work twice
    again = Client().get(link.group(1), follow=True).content.decode()
    assert "This link does not work" in again


def test_an_unknown_address_gets_the_same_answer_and_no_email(db: None) -> None:
    resp = Client().post("/accounts/password/reset/", {"email": "nobody@example.com"})
    assert resp.status_code == 302 and resp["Location"] == "/accounts/password/reset/sent/"
    assert mail.outbox == []


def test_a_deleted_account_gets_no_reset_email(owner: User) -> None:
    owner.is_active = False
    owner.save()
    Client().post("/accounts/password/reset/", {"email": owner.email})
    assert mail.outbox == []


@override_settings(ACCOUNTS_RESET_REQUESTS_PER_EMAIL=2, ACCOUNTS_RESET_REQUESTS_PER_IP=4)
def test_requests_are_throttled_per_email_and_per_address(owner: User) -> None:
    client = Client()
    for _ in range(2):
        assert client.post("/accounts/password/reset/", {"email": owner.email}).status_code == 302
    # the third for this email: 429, said next to the field, and no third email
    resp = client.post("/accounts/password/reset/", {"email": owner.email})
    assert resp.status_code == 429
    assert 'id="id_email_error"' in resp.content.decode()
    assert "Too many reset requests" in resp.content.decode()
    assert len(mail.outbox) == 2
    # another address from another client still works
    other = Client(REMOTE_ADDR="10.9.9.9")
    assert other.post("/accounts/password/reset/", {"email": "x@example.com"}).status_code == 302
    # the first address, other emails: its 4th request (3 counted above) is its last, the
    # 5th is refused whatever the email
    assert client.post("/accounts/password/reset/", {"email": "a@example.com"}).status_code == 302
    assert client.post("/accounts/password/reset/", {"email": "b@example.com"}).status_code == 429


def test_reset_posts_need_the_csrf_token(owner: User) -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.post("/accounts/password/reset/", {"email": owner.email}).status_code == 403
    assert mail.outbox == []
    client.get("/accounts/password/reset/")
    token = client.cookies["csrftoken"].value
    resp = client.post(
        "/accounts/password/reset/", {"email": owner.email, "csrfmiddlewaretoken": token}
    )
    assert resp.status_code == 302 and len(mail.outbox) == 1
