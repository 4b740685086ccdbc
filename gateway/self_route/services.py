"""Writes of users' own providers (self-route): register, rotate the key, delete, and a
key's default. Every refusal is a DomainError (``code``, ``message``, ``param``) raised
before anything is stored.

The base URL passes the outbound address guard (``gateway.providers.url_guard``) here, at
registration, and again when each request connects (``post_json(..., user_url=True)``),
so a name that later resolves to a private address is still refused. The operator's
``GATEWAY_SELF_ROUTE_ALLOW_PRIVATE`` lifts both (local testing only).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.text import slugify

from accounts.models import ApiKey
from catalog.models import UserProvider
from catalog.provider_keys import provider_key_encrypt
from config.errors import DomainError
from gateway.providers.url_guard import assert_public_url

SLUG_PREFIX = "my-"
NAME_MAX = 60
KEY_MAX = 1000
URL_MAX = 500


def _name_clean(name: str) -> tuple[str, str]:
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX:
        raise DomainError(
            "invalid_parameter", f"Name must be 1 to {NAME_MAX} characters", param="name"
        )
    slug = slugify(name)[:40].strip("-")
    if not slug:
        raise DomainError("invalid_parameter", "Name must contain letters or digits", param="name")
    return name, SLUG_PREFIX + slug


def _key_clean(key: str) -> str:
    key = (key or "").strip()
    if not key or len(key) > KEY_MAX:
        raise DomainError(
            "invalid_parameter", f"Key must be 1 to {KEY_MAX} characters", param="key"
        )
    if not key.isprintable() or not key.isascii() or " " in key:
        # it becomes an HTTP header value: no spaces, controls or non-ASCII text
        raise DomainError(
            "invalid_parameter", "Key must be printable ASCII without spaces", param="key"
        )
    return key


def base_url_check(url: str) -> str:
    """The base URL without a trailing slash, if it is http(s) with a host and (unless the
    operator allows private addresses) every address its host resolves to is public."""
    url = (url or "").strip()
    if not url or len(url) > URL_MAX or not url.isascii() or not url.isprintable():
        raise DomainError("invalid_url", "The base URL is not valid", param="base_url")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (a bad port raises)
    except ValueError as exc:
        raise DomainError("invalid_url", "The base URL is not valid", param="base_url") from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise DomainError(
            "invalid_url", "The base URL must be http or https with a host", param="base_url"
        )
    if parts.username or parts.password or parts.fragment:
        raise DomainError(
            "invalid_url", "The base URL may hold no credentials or fragment", param="base_url"
        )
    if not settings.GATEWAY_SELF_ROUTE_ALLOW_PRIVATE:
        assert_public_url(url, param="base_url")
    return url.rstrip("/")


def user_provider_create(
    *, user_id: int, name: str, dialect: str, base_url: str, key: str
) -> UserProvider:
    """Register a provider for ``user_id``: its slug ``my-<name>`` is unique per user."""
    name, slug = _name_clean(name)
    if dialect not in UserProvider.Dialect.values:
        raise DomainError(
            "invalid_parameter", "Dialect must be openai or anthropic", param="dialect"
        )
    url = base_url_check(base_url)
    key = _key_clean(key)
    try:
        with transaction.atomic():
            if (
                UserProvider.objects.filter(user_id=user_id).count()
                >= settings.GATEWAY_SELF_ROUTE_MAX_PER_USER
            ):
                raise DomainError(
                    "invalid_parameter",
                    f"At most {settings.GATEWAY_SELF_ROUTE_MAX_PER_USER} providers per account",
                    param="name",
                )
            return UserProvider.objects.create(
                user_id=user_id,
                name=name,
                slug=slug,
                dialect=dialect,
                base_url=url,
                key_encrypted=provider_key_encrypt(key),
                key_last4=key[-4:],
            )
    except IntegrityError as exc:
        raise DomainError(
            "invalid_parameter", f"You already have a provider named {slug}", param="name"
        ) from exc


def user_provider_key_rotate(*, provider: UserProvider, key: str) -> None:
    """Replace the provider's key (the old one is gone at once)."""
    key = _key_clean(key)
    UserProvider.objects.filter(pk=provider.pk).update(
        key_encrypted=provider_key_encrypt(key), key_last4=key[-4:]
    )


def user_provider_delete(*, provider: UserProvider) -> None:
    """Delete the provider; keys defaulting to it fall back to the catalog's routes."""
    provider.delete()


def apikey_self_route_set(*, api_key: ApiKey, provider: UserProvider | None) -> None:
    """Make ``provider`` (the key owner's, or None) the key's default route."""
    if provider is not None and provider.user_id != api_key.user_id:
        raise DomainError("not_found", "No such provider", param="provider")
    ApiKey.objects.filter(pk=api_key.pk).update(
        self_route_provider=provider, revision=F("revision") + 1
    )
