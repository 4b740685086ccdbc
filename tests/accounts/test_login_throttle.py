"""Login throttling (accounts/throttle.py): failures counted per email and per address;
a throttled log-in is refused, even with the right password, with a clear 429 page."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.core.cache import cache
from django.test import Client

from accounts.models import User
from accounts.services import user_create

PASSWORD = "correct-horse-battery-staple-9"
THROTTLED_TEXT = "Too many failed log-ins"


@pytest.fixture(autouse=True)
def _fresh_counters() -> Iterator[None]:
    cache.clear()  # counters outlive a test on Redis
    yield
    cache.clear()


@pytest.fixture
def victim(db: None) -> User:
    return user_create(email="victim@example.com", password=PASSWORD)


def log_in(client: Client, email: str, password: str) -> Any:
    return client.post("/accounts/login/", {"username": email, "password": password})


def test_forty_wrong_passwords_then_the_right_one_is_refused(victim: User) -> None:
    # given an attacker at one address
    client = Client(REMOTE_ADDR="203.0.113.7")
    # when it tries 40 wrong passwords
    statuses = [log_in(client, victim.email, f"guess-{i}").status_code for i in range(40)]
    # then the first 10 are wrong-password pages, the other 30 are refused as throttled
    assert statuses == [200] * 10 + [429] * 30
    # and the right password is refused too, with a message saying why, and no session
    resp = log_in(client, victim.email, PASSWORD)
    assert resp.status_code == 429
    assert THROTTLED_TEXT in resp.content.decode() and "15 minutes" in resp.content.decode()
    assert "_auth_user_id" not in client.session
    # and from another address too (the account is what is attacked)
    other = log_in(Client(REMOTE_ADDR="198.51.100.9"), "Victim@Example.com", PASSWORD)
    assert other.status_code == 429


def test_the_throttle_ends_after_the_window(victim: User, settings: Any) -> None:
    # given a 1-second window, used up by 10 failures
    settings.ACCOUNTS_LOGIN_WINDOW_SECONDS = 1
    client = Client(REMOTE_ADDR="203.0.113.8")
    for i in range(10):
        log_in(client, victim.email, f"guess-{i}")
    assert log_in(client, victim.email, PASSWORD).status_code == 429
    # when the window has passed
    time.sleep(1.6)
    # then the right password logs in
    resp = log_in(client, victim.email, PASSWORD)
    assert resp.status_code == 302 and resp["Location"] == "/"


def test_per_address_limit_covers_many_accounts(db: None) -> None:
    # given 51 accounts and one address that fails once on each of 50 of them
    users = [user_create(email=f"u{i}@example.com", password=PASSWORD) for i in range(51)]
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    statuses = [log_in(attacker, u.email, "wrong").status_code for u in users[:50]]
    assert statuses == [200] * 50
    # when that address tries the 51st account, even with its right password
    resp = log_in(attacker, users[50].email, PASSWORD)
    # then it is refused; the account's owner at another address logs in
    assert resp.status_code == 429
    assert log_in(Client(REMOTE_ADDR="198.51.100.10"), users[50].email, PASSWORD).status_code == 302


def test_a_success_does_not_reset_other_counters(victim: User) -> None:
    # given an attacker with an account of its own, 9 failures on the victim
    own = user_create(email="attacker@example.com", password=PASSWORD)
    client = Client(REMOTE_ADDR="203.0.113.10")
    for i in range(9):
        assert log_in(client, victim.email, f"guess-{i}").status_code == 200
    # when it logs in to its own account (and out again)
    assert log_in(client, own.email, PASSWORD).status_code == 302
    client.post("/accounts/logout/")
    # then the victim's count went on: one more failure throttles it
    assert log_in(client, victim.email, "guess-9").status_code == 200
    assert log_in(client, victim.email, PASSWORD).status_code == 429


def test_a_success_clears_its_own_count(victim: User) -> None:
    # given 9 failures, then the owner's successful log-in
    client = Client(REMOTE_ADDR="203.0.113.11")
    for i in range(9):
        log_in(client, victim.email, f"typo-{i}")
    assert log_in(client, victim.email, PASSWORD).status_code == 302
    client.post("/accounts/logout/")
    # when the owner mistypes again 9 times
    statuses = [log_in(client, victim.email, f"typo-{i}").status_code for i in range(9)]
    # then none is throttled, and the right password still logs in
    assert statuses == [200] * 9
    assert log_in(client, victim.email, PASSWORD).status_code == 302


def test_the_admin_log_in_is_throttled_too(db: None) -> None:
    # given a staff account and 10 failures on the admin's own log-in page
    staff = user_create(email="staff@example.com", password=PASSWORD, is_staff=True)
    client = Client(REMOTE_ADDR="203.0.113.12")
    for i in range(10):
        resp = client.post("/admin/login/", {"username": staff.email, "password": f"g{i}"})
        assert resp.status_code == 200
    # when the right password comes
    resp = client.post("/admin/login/", {"username": staff.email, "password": PASSWORD})
    # then it is refused (no session)
    assert resp.status_code == 200 and "_auth_user_id" not in client.session
    # and authenticate() without a request (management commands) is throttled by email
    assert authenticate(username=staff.email, password=PASSWORD) is None
