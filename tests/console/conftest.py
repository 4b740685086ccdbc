"""Console fixtures: a signed-in user and CSRF-enforcing clients."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from accounts.services import user_create

PASSWORD = "correct-horse-battery-staple-9"


@pytest.fixture
def owner(db: None) -> User:
    return user_create(email="owner@example.com", password=PASSWORD)


def csrf_client(user: User, page: str) -> tuple[Client, str]:
    """A client that enforces CSRF like a browser, signed in as ``user``, with the token
    read from ``page``'s cookie."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get(page).status_code == 200
    return client, client.cookies["csrftoken"].value
