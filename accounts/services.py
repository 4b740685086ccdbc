"""Writes to users and keys. The full key leaves ``apikey_create`` once and is never stored."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.keys import key_generate
from accounts.models import ApiKey, ApiKeyEvent, User


@dataclass(frozen=True)
class CreatedKey:
    api_key: ApiKey
    secret: str  # the full key: show it once, store it nowhere


@transaction.atomic
def user_create(*, email: str, password: str | None = None, is_staff: bool = False) -> User:
    if is_staff:
        return User.objects.create_superuser(email, password)
    return User.objects.create_user(email, password)


@transaction.atomic
def apikey_create(
    *,
    user: User,
    name: str = "default",
    monthly_limit: int | None = None,
    allowed_models: list[str] | None = None,
    allowed_ips: list[str] | None = None,
    rate_limit_rpm: int | None = None,
    expires_at: dt.datetime | None = None,
    actor: User | None = None,
) -> CreatedKey:
    full, prefix, digest = key_generate()
    key = ApiKey.objects.create(
        user=user,
        name=name,
        prefix=prefix,
        secret_hash=digest,
        monthly_limit=monthly_limit,
        allowed_models=allowed_models or [],
        allowed_ips=allowed_ips or [],
        rate_limit_rpm=rate_limit_rpm,
        expires_at=expires_at,
    )
    ApiKeyEvent.objects.create(
        api_key=key,
        kind=ApiKeyEvent.Kind.CREATED,
        actor=actor or user,
        detail={"name": name, "prefix": prefix},
    )
    return CreatedKey(api_key=key, secret=full)


@transaction.atomic
def apikey_revoke(*, api_key: ApiKey, actor: User | None = None) -> None:
    ApiKey.objects.filter(pk=api_key.pk).update(is_disabled=True, revision=F("revision") + 1)
    api_key.is_disabled = True
    api_key.refresh_from_db(fields=["revision"])
    ApiKeyEvent.objects.create(api_key=api_key, kind=ApiKeyEvent.Kind.REVOKED, actor=actor)


def apikey_touch(*, api_key: ApiKey, min_interval: int = 60) -> None:
    """Record use, at most once per ``min_interval`` seconds per key (no write on most
    requests)."""
    now = timezone.now()
    last = api_key.last_used_at
    if last is None or (now - last).total_seconds() >= min_interval:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now


@transaction.atomic
def apikey_update(*, api_key: ApiKey, changed: list[str], actor: User | None = None) -> None:
    """Save the limits already set on ``api_key`` (those named in ``changed``) with an audit
    row naming the fields. Never touches the prefix, the hash or the revocation flag."""
    editable = {
        "name",
        "monthly_limit",
        "allowed_models",
        "allowed_ips",
        "rate_limit_rpm",
        "expires_at",
    }
    fields = [name for name in changed if name in editable]
    if not fields:
        return
    ApiKey.objects.filter(pk=api_key.pk).update(
        revision=F("revision") + 1, **{f: getattr(api_key, f) for f in fields}
    )
    api_key.refresh_from_db(fields=["revision"])
    ApiKeyEvent.objects.create(
        api_key=api_key, kind=ApiKeyEvent.Kind.UPDATED, actor=actor, detail={"fields": fields}
    )
