"""The console's Content-Security-Policy (django-csp): a strict policy on every console and
admin page, and no page that needs more (no inline script, style or event handler)."""

from __future__ import annotations

import re
import urllib.request
from typing import Any

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.services import apikey_create, user_create

PASSWORD = "correct-horse-battery-staple-9"
POLICY = {
    "default-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}
# What the policy blocks: an inline script (data blocks of type application/json are not
# run), an event handler attribute, an inline style.
INLINE = re.compile(
    r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>|\son[a-z]+\s*=|\sstyle\s*=|<style",
    re.IGNORECASE,
)
SCRIPT_SRC = re.compile(r"<script[^>]*\bsrc=\"([^\"]+)\"", re.IGNORECASE)


def policy_of(resp: Any) -> dict[str, str]:
    header = resp["Content-Security-Policy"]
    directives = (part.strip().split(" ", 1) for part in header.split(";") if part.strip())
    return {name: value for name, value in directives}


def assert_strict_page(resp: Any, label: str = "") -> None:
    assert policy_of(resp) == POLICY, label
    html = resp.content.decode()
    assert INLINE.findall(html) == [], label
    # every script is a file of this site
    scripts = SCRIPT_SRC.findall(html)
    assert all(src.startswith(("/static/", "/admin/")) for src in scripts), (label, scripts)


@pytest.fixture
def owner(db: None) -> User:
    user = user_create(email="dev@example.com", password=PASSWORD)
    apikey_create(user=user, name="first")  # the keys page then has a revoke form
    return user


def test_console_pages_are_served_under_the_strict_policy(owner: User) -> None:
    # given an anonymous visitor, then the signed-in owner of a key
    anonymous = Client()
    signed_in = Client()
    signed_in.force_login(owner)
    pages = [
        anonymous.get("/accounts/login/"),
        anonymous.get("/accounts/signup/"),
        anonymous.get("/no-such-page/"),
        signed_in.get("/"),
        signed_in.get("/keys/"),
    ]
    # then each carries the policy, needs nothing it forbids, and cannot be framed
    assert [p.status_code for p in pages] == [200, 200, 404, 200, 200]
    for page in pages:
        assert_strict_page(page)
        assert page["X-Frame-Options"] == "DENY"
    # and the revoke confirmation is the console's script, not an inline handler
    assert 'data-confirm="Revoke this key?' in pages[4].content.decode()
    assert "/static/js/console.js" in pages[4].content.decode()


def test_the_console_script_is_served(owner: User, live_server: Any) -> None:
    with urllib.request.urlopen(f"{live_server.url}/static/js/console.js") as resp:
        assert resp.status == 200 and b"data-confirm" in resp.read()


def test_every_admin_page_works_under_the_policy(db: None) -> None:
    # given a superuser
    root = user_create(email="root@example.com", password=PASSWORD, is_staff=True)
    User.objects.filter(pk=root.pk).update(is_superuser=True)
    client = Client()
    client.force_login(root)
    # when it opens the admin's index and every model's list and add pages
    urls = ["/admin/"]
    for model in admin.site._registry:
        opts = model._meta
        urls += [
            reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
            reverse(f"admin:{opts.app_label}_{opts.model_name}_add"),
        ]
    pages = {url: client.get(url) for url in urls}
    # then each renders (or refuses to add a read-only record) with only its own files
    rendered = [url for url, page in pages.items() if page.status_code == 200]
    assert len(rendered) >= len(admin.site._registry) + 1
    assert {page.status_code for page in pages.values()} <= {200, 403}
    for url in rendered:
        assert_strict_page(pages[url], url)
