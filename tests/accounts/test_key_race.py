"""Concurrent key creations for one account on PostgreSQL: each thread has its own
connection, all are released at once, and the account ends with exactly its tier's number
of keys. The policy is slowed between its count and the insert, so without the lock of the
user's row every creation would pass the count together."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections

from accounts.models import ApiKey, ApiKeyEvent
from accounts.services import apikey_create, user_create
from billing.payment_selectors import key_policy_check
from billing.tiers import tiers_all
from config.errors import DomainError

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite serialises every writer, so there is no race to test",
    ),
]

CREATORS = 12
WINDOW = 0.3  # seconds between the policy's count and the key's insert


def slow_key_policy(**kwargs: object) -> int | None:
    """The real policy, then a pause: a slow request between the count and the insert."""
    allowed = key_policy_check(**kwargs)  # type: ignore[arg-type]
    time.sleep(WINDOW)
    return allowed


@pytest.mark.timeout(60)
@pytest.mark.django_db(transaction=True)
def test_concurrent_creations_end_with_exactly_the_tiers_number_of_keys(settings) -> None:
    # given a Pay-as-you-go account (5 keys) with one already, and a slow policy
    settings.ACCOUNTS_KEY_POLICY = "tests.accounts.test_key_race.slow_key_policy"
    cap = tiers_all()[0].max_keys
    user = user_create(email="racer@example.com")
    apikey_create(user=user, name="first")
    barrier = threading.Barrier(CREATORS)
    lock = threading.Lock()
    made: list[int] = []
    refused: list[str] = []
    errors: list[BaseException] = []

    def create(n: int) -> None:
        try:
            barrier.wait()
            key = apikey_create(user=user, name=f"k{n}")
            with lock:
                made.append(key.api_key.pk)
        except DomainError as exc:
            with lock:
                refused.append(exc.code)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)
        finally:
            connections.close_all()

    # when 12 creations start at the same instant, each on its own connection
    threads = [threading.Thread(target=create, args=(n,)) for n in range(CREATORS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=50)
    # then exactly the cap is reached: 4 more keys, 8 refused with key_limit
    assert errors == []
    assert len(made) == cap - 1
    assert refused == ["key_limit"] * (CREATORS - cap + 1)
    assert ApiKey.objects.filter(user=user, is_disabled=False).count() == cap
    assert ApiKeyEvent.objects.filter(api_key__user=user, kind="created").count() == cap
