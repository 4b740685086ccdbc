"""A registry and a little of everything, so each admin page has rows to render (made by
tests/admin/rows.py), and a logged-in staff user."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from accounts.services import user_create
from tests.admin.rows import Customer, Registry, customer_create, registry_create


@pytest.fixture
def registry(db: None) -> Registry:
    return registry_create()


@pytest.fixture
def staff(db: None) -> User:
    return user_create(email="root@example.com", password="irrelevant-pass-1", is_staff=True)


@pytest.fixture
def staff_client(staff: User) -> Client:
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def customer(db: None, registry: Registry) -> Customer:
    """A user with credits, a limited key, a request on the log, a hold, a rate counter
    (and a staff group)."""
    return customer_create(registry)
