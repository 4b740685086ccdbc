"""Writes to users and keys. The full key leaves ``apikey_create`` once and is never stored.

Every key is made by ``apikey_create`` (the console, ``manage.py apikey_create``, the first
run), which applies the account's tier (``ACCOUNTS_KEY_POLICY``: billing decides, accounts
cannot import it) under a lock of the user's row, so concurrent creations cannot pass the
key count together. Changing a key's rate limit asks the same policy.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.module_loading import import_string

from accounts.keys import key_generate
from accounts.models import ApiKey, ApiKeyEvent, User


@dataclass(frozen=True)
class CreatedKey:
    api_key: ApiKey
    secret: str  # the full key: show it once, store it nowhere


class AccountDeletionRefused(Exception):
    """The account may not be deleted now; ``str(exc)`` says why, to show as it is."""


@transaction.atomic
def user_email_change(*, user: User, email: str) -> None:
    """A new login email (lower-cased). The unique constraint decides: IntegrityError when
    another account has it."""
    user.email = User.objects.normalize_email(email).lower()
    user.save(update_fields=["email"])


def user_time_zone_set(*, user: User, time_zone: str) -> None:
    """``time_zone``: an IANA name, checked against the zones this machine knows."""
    user.time_zone = time_zone
    user.full_clean(validate_unique=False, validate_constraints=False)
    user.save(update_fields=["time_zone"])


def user_deletion_refusal(*, user: User) -> str | None:
    """Why the account cannot be deleted now (``ACCOUNTS_DELETION_CHECK``), or None."""
    check = import_string(settings.ACCOUNTS_DELETION_CHECK)
    return check(user_id=user.pk)


@transaction.atomic
def user_delete(*, user: User) -> None:
    """Close the account: refused (AccountDeletionRefused, with the reason) while billing's
    check (``ACCOUNTS_DELETION_CHECK``) has one, e.g. a balance or a hold remains.

    The user's row is kept, deactivated, not deleted: the ledger, payments and request
    records refer to it and stay whole (the credit account protects it). What identified
    the person goes: the email becomes ``deleted-<id>@deleted.invalid`` (freeing the address
    for a new sign-up), the name is cleared, the password made unusable, the API turned
    off and every key revoked, each with its audit row. Taken under a lock of the user's
    row, as key creation is, so no key is made meanwhile."""
    list(User.objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True))
    reason = user_deletion_refusal(user=user)
    if reason:
        raise AccountDeletionRefused(reason)
    for key in ApiKey.objects.filter(user=user, is_disabled=False):
        apikey_revoke(api_key=key, actor=user)
    user.email = f"deleted-{user.pk}@deleted.invalid"
    user.name = ""
    user.is_active = False
    user.is_api_enabled = False
    user.set_unusable_password()
    user.save(update_fields=["email", "name", "is_active", "is_api_enabled", "password"])


@transaction.atomic
def user_create(*, email: str, password: str | None = None, is_staff: bool = False) -> User:
    if is_staff:
        return User.objects.create_superuser(email, password)
    return User.objects.create_user(email, password)


def apikey_rate_limit_allowed(
    *, user_id: int, rate_limit_rpm: int | None, is_new_key: bool = False
) -> int | None:
    """The rate limit (requests per minute) the user's tier gives a key asking for
    ``rate_limit_rpm``: that one, or the tier's ceiling when None. ``is_new_key`` also
    checks the number of keys. Raises DomainError (``key_limit``, or ``invalid_parameter``
    with ``param="rate_limit_rpm"``) with a message to show as it is."""
    policy = import_string(settings.ACCOUNTS_KEY_POLICY)
    return policy(user_id=user_id, rate_limit_rpm=rate_limit_rpm, is_new_key=is_new_key)


@transaction.atomic
def apikey_create(
    *,
    user: User,
    name: str = "default",
    monthly_limit: int | None = None,
    limit_reset: str = "monthly",
    allowed_models: list[str] | None = None,
    allowed_ips: list[str] | None = None,
    rate_limit_rpm: int | None = None,
    expires_at: dt.datetime | None = None,
    actor: User | None = None,
    ignore_tier: bool = False,
    kind: str = "inference",
) -> CreatedKey:
    """A new key for ``user`` within the tier's caps: refused (DomainError ``key_limit``)
    when the account holds its tier's number of usable keys, refused (``invalid_parameter``)
    above the tier's rate ceiling; no ``rate_limit_rpm`` gives the ceiling. The user's row
    stays locked (``SELECT ... FOR UPDATE``) from the count to the commit, so N concurrent
    creations end with at most the cap. ``ignore_tier``: an operator's key outside the
    tier (``apikey_create --ignore-tier``), recorded on the audit row."""
    # Serialises key creation per user on PostgreSQL; SQLite's IMMEDIATE transactions
    # serialise every writer already (FOR UPDATE is not emitted there).
    list(User.objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True))
    if not ignore_tier:
        rate_limit_rpm = apikey_rate_limit_allowed(
            user_id=user.pk, rate_limit_rpm=rate_limit_rpm, is_new_key=True
        )
    full, prefix, digest = key_generate()
    key = ApiKey.objects.create(
        user=user,
        name=name,
        prefix=prefix,
        secret_hash=digest,
        monthly_limit=monthly_limit,
        limit_reset=limit_reset,
        allowed_models=allowed_models or [],
        allowed_ips=allowed_ips or [],
        rate_limit_rpm=rate_limit_rpm,
        expires_at=expires_at,
        kind=kind,
    )
    detail: dict[str, object] = {"name": name, "prefix": prefix}
    if kind != "inference":
        detail["kind"] = kind
    if ignore_tier:
        detail["ignore_tier"] = True
    ApiKeyEvent.objects.create(
        api_key=key, kind=ApiKeyEvent.Kind.CREATED, actor=actor or user, detail=detail
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
    row naming the fields. Never touches the prefix or the hash; ``is_disabled`` only when named. A
    rate limit above the tier's ceiling raises DomainError; an empty one gets the ceiling."""
    editable = {
        "name",
        "monthly_limit",
        "limit_reset",
        "allowed_models",
        "allowed_ips",
        "rate_limit_rpm",
        "expires_at",
        "is_disabled",
    }
    fields = [name for name in changed if name in editable]
    if not fields:
        return
    if "rate_limit_rpm" in fields:
        # the tier's ceiling holds for edits too (an empty limit gets the ceiling)
        api_key.rate_limit_rpm = apikey_rate_limit_allowed(
            user_id=api_key.user_id, rate_limit_rpm=api_key.rate_limit_rpm
        )
    ApiKey.objects.filter(pk=api_key.pk).update(
        revision=F("revision") + 1, **{f: getattr(api_key, f) for f in fields}
    )
    api_key.refresh_from_db(fields=["revision"])
    ApiKeyEvent.objects.create(
        api_key=api_key, kind=ApiKeyEvent.Kind.UPDATED, actor=actor, detail={"fields": fields}
    )


CALLBACK_SECRET_PREFIX = "whsec_"  # noqa: S105  (a prefix, not a secret)


def _callback_secret_new() -> str:
    return CALLBACK_SECRET_PREFIX + secrets.token_urlsafe(32)


def callback_secret_get(user: User) -> str:
    """The user's callback signing secret (``x-api-key-signature`` of media task callbacks),
    made on first use. Two first uses at once agree: the secret is written only where the
    column is still blank, and the loser reads the winner's."""
    if user.callback_secret:
        return user.callback_secret
    made = _callback_secret_new()
    if not User.objects.filter(pk=user.pk, callback_secret="").update(callback_secret=made):
        made = User.objects.values_list("callback_secret", flat=True).get(pk=user.pk)
    user.callback_secret = made
    return made


def callback_secret_rotate(user: User) -> str:
    """A new signing secret for ``user``, in force from the next callback attempt on (one
    already sent was signed with the old one)."""
    made = _callback_secret_new()
    User.objects.filter(pk=user.pk).update(callback_secret=made)
    user.callback_secret = made
    return made
