"""DRF authentication by API key: ``Authorization: Bearer sk-...`` or ``x-api-key: sk-...``.

The key is looked up by its public prefix on every request (one indexed query) and its
SHA-256 compared in constant time, so disabling or revoking a key takes effect on the next
request in every process.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from accounts.keys import key_matches, key_prefix
from accounts.models import ApiKey
from accounts.services import apikey_touch
from config.errors import ApiError


def key_from_headers(meta: dict[str, Any]) -> str | None:
    auth = meta.get("HTTP_AUTHORIZATION", "")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    value = meta.get("HTTP_X_API_KEY", "")
    return value.strip() or None


def client_ip(meta: dict[str, Any]) -> str:
    """REMOTE_ADDR, or the address ``GATEWAY_TRUSTED_PROXIES`` hops back in X-Forwarded-For."""
    hops = getattr(settings, "GATEWAY_TRUSTED_PROXIES", 0)
    if hops:
        forwarded = [p.strip() for p in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if p]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return meta.get("REMOTE_ADDR", "")


def ip_allowed(ip: str, allowed: list[str]) -> bool:
    if not allowed:
        return True
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for cidr in allowed:
        try:
            if addr in ipaddress.ip_network(cidr, strict=False):
                return True
        except ValueError:
            continue
    return False


def apikey_by_prefix(prefix: str) -> ApiKey | None:
    """The key with this public prefix, its user loaded alongside."""
    return next(iter(ApiKey.objects.select_related("user").filter(prefix=prefix)[:1]), None)


def apikey_authenticate(
    meta: dict[str, Any], *, lookup: Callable[[str], ApiKey | None] = apikey_by_prefix
) -> ApiKey:
    """The usable key presented in these request headers, or an ApiError. ``lookup`` loads
    a key (and its user) by prefix."""
    full = key_from_headers(meta)
    if not full:
        raise ApiError(
            401, "invalid_api_key", "Missing API key: send Authorization: Bearer <key> or x-api-key"
        )
    prefix = key_prefix(full)
    key = lookup(prefix) if prefix else None
    if key is None or not key_matches(full, key.secret_hash) or not key.user.is_active:
        raise ApiError(401, "invalid_api_key", "Invalid API key")
    if key.is_disabled:
        raise ApiError(401, "invalid_api_key", "This API key has been revoked")
    if key.expires_at is not None and key.expires_at <= timezone.now():
        raise ApiError(401, "key_expired", "This API key has expired")
    if not key.user.is_api_enabled:
        raise ApiError(403, "api_disabled", "API access is disabled for this account")
    if key.allowed_ips and not ip_allowed(client_ip(meta), key.allowed_ips):
        raise ApiError(403, "ip_not_allowed", "This API key may not be used from this address")
    return key


class ApiKeyAuthentication(BaseAuthentication):
    def lookup(self, prefix: str) -> ApiKey | None:
        return apikey_by_prefix(prefix)

    def authenticate(self, request: Request) -> tuple[Any, ApiKey]:
        key = apikey_authenticate(request.META, lookup=self.lookup)
        apikey_touch(api_key=key)
        return key.user, key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
