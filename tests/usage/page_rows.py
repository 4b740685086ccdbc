"""Request-log rows for the usage pages' tests: Generations written straight to the table at
chosen times (the pages read them as the pipeline writes them: a settled one, success,
cancelled or interrupted, also adds to its daily rollup)."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from django.db.models import F

from accounts.models import ApiKey, User
from gateway.models import Generation, UsageDaily

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
    if row.status in ("success", "cancelled", "interrupted"):
        bucket, _ = UsageDaily.objects.get_or_create(
            user=user,
            key_id=key.pk if key else 0,
            model=row.model,
            surface=row.surface,
            day=created_at.astimezone(dt.UTC).date(),
        )
        UsageDaily.objects.filter(pk=bucket.pk).update(
            requests=F("requests") + 1,
            prompt_tokens=F("prompt_tokens") + row.prompt_tokens,
            completion_tokens=F("completion_tokens") + row.completion_tokens,
            cost=F("cost") + row.cost,
        )
    return row
