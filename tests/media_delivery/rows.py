"""Media task rows for the delivery tests, made directly (the engine is not under test)."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from django.utils import timezone

from accounts.models import User
from gateway.media.models import MediaTask
from gateway.providers.dialect import DialectBase, MediaOutput
from gateway.providers.transport import Response


def task_make(user: User, **fields: Any) -> MediaTask:
    """A task of ``user`` (an image task, pending, by default)."""
    values: dict[str, Any] = {
        "public_id": "task_" + secrets.token_urlsafe(24),
        "request_id": "gen-" + secrets.token_hex(12),
        "user": user,
        "kind": MediaTask.Kind.IMAGE,
        "model": "acme/painter",
        "params": {"prompt": "a red fox", "n": 1},
        "deadline_at": timezone.now() + dt.timedelta(hours=1),
        "origin": "https://gw.example",
    }
    values.update(fields)
    return MediaTask.objects.create(**values)


def output_open(output: MediaOutput) -> Response:
    """What the engine passes as ``open_output``: the dialects' own GET of a public link."""
    return DialectBase().output_open(None, output)  # type: ignore[arg-type]
