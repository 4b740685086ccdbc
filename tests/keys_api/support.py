"""Shared pieces of the /v1/keys tests: a management key's headers, a live server's JSON
calls with plain ``requests``, and a clock moved for the whole process (the live server's
thread too) so a key's period ends as it will in time, without sleeping."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import requests
from django.utils import timezone

from accounts.services import apikey_create, user_create


def manager_of(email: str) -> tuple[Any, str]:
    """A new user and the secret of a management key of theirs."""
    user = user_create(email=email)
    return user, apikey_create(user=user, name="m", kind="management", ignore_tier=True).secret


def call(base: str, secret: str) -> Callable[..., requests.Response]:
    def send(method: str, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {secret}"}
        return requests.request(
            method, base + path, json=body, headers=headers, timeout=30, **kwargs
        )

    return send


class Clock:
    """``timezone.now`` moved by ``offset`` (every caller reads it through the module)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset = dt.timedelta(0)
        real = timezone.now
        monkeypatch.setattr(timezone, "now", lambda: real() + self.offset)

    def to(self, when: dt.datetime) -> None:
        self.offset = when - dt.datetime.now(dt.UTC)
