"""Request-log rows for the usage pages' tests: Generations written straight to the table at
chosen times (the pages read them as the pipeline writes them)."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from accounts.models import ApiKey, User
from gateway.models import Generation

_numbers = itertools.count(1)


def generation_at(
    user: User, created_at: dt.datetime, *, key: ApiKey | None = None, **fields: Any
) -> Generation:
    """One Generation of ``user`` created at ``created_at`` (UTC)."""
    values: dict[str, Any] = {
        "request_id": f"gen-test{next(_numbers):08d}",
        "model": "test/echo",
        "provider": "fake",
        "surface": "chat.completions",
        "status": "success",
        "http_status": 200,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "cost": 1_234,
        "latency_ms": 42,
        **fields,
    }
    row = Generation.objects.create(user=user, api_key=key, **values)
    Generation.objects.filter(pk=row.pk).update(created_at=created_at)
    row.refresh_from_db()
    return row
