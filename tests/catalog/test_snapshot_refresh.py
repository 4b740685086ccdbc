"""The registry snapshot's refresh: requests that find it due at once ask the database for
the catalog's revision once, not once each."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection

from catalog import selectors

pytestmark = pytest.mark.django_db(transaction=True)


def test_requests_finding_the_snapshot_due_together_check_the_revision_once(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a snapshot past its time to live, and a revision check that takes 50 ms
    settings.GATEWAY_CATALOG_TTL_SECONDS = 60
    selectors.model_list()
    checks: list[int] = []
    real = selectors._revision

    def slow_revision() -> int:
        checks.append(1)
        time.sleep(0.05)
        return real()

    monkeypatch.setattr(selectors, "_revision", slow_revision)
    snapshot = selectors._snapshot
    assert snapshot is not None
    snapshot.checked_at -= 120
    # when 20 requests read the registry at the same moment
    start = threading.Barrier(20)
    found: list[int] = []

    def read() -> None:
        start.wait()
        try:
            found.append(len(selectors.model_list()))
        finally:
            connection.close()

    threads = [threading.Thread(target=read) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then the revision was asked once, and every request saw the same registry
    assert len(checks) == 1
    assert len(found) == 20 and len(set(found)) == 1
