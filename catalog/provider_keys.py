"""Encryption at rest of users' own provider keys (``UserProvider.key_encrypted``).

Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``) under keys from the
environment: every entry of ``GATEWAY_PROVIDER_KEYS_SECRET`` (any text, stretched to a
Fernet key with HKDF-SHA256) decrypts, and the first encrypts, so an operator rotates by
putting a new secret first and re-encrypting (``provider_key_reencrypt``) before dropping
the old one. When the setting is empty the key is derived from ``DJANGO_SECRET_KEY`` with
the same HKDF and its own context: changing the Django secret then makes every stored
provider key unreadable (its owner registers it again), which the README says.

A token that no configured key opens raises ``ProviderKeyUnreadable``, never a bare
``InvalidToken``; nothing here logs a key.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

_INFO = b"llm-gateway user provider keys v1"


class ProviderKeyUnreadable(Exception):
    """The stored key was encrypted under a secret the gateway no longer has."""


def _fernet_key(secret: str) -> bytes:
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret.encode())
    return base64.urlsafe_b64encode(raw)


@lru_cache(maxsize=8)
def _cipher(secrets: tuple[str, ...]) -> MultiFernet:
    if not secrets:
        raise RuntimeError("no secret to encrypt provider keys with")
    return MultiFernet([Fernet(_fernet_key(s)) for s in secrets])


def _secrets() -> tuple[str, ...]:
    configured = tuple(s for s in settings.GATEWAY_PROVIDER_KEYS_SECRET if s)
    return configured or ((settings.SECRET_KEY,) if settings.SECRET_KEY else ())


def provider_key_encrypt(key: str) -> str:
    """The Fernet token of ``key`` (text), under the first configured secret."""
    return _cipher(_secrets()).encrypt(key.encode()).decode()


def provider_key_decrypt(token: str) -> str:
    """The key inside ``token``; ProviderKeyUnreadable if no configured secret opens it."""
    try:
        return _cipher(_secrets()).decrypt(token.encode()).decode()
    except (InvalidToken, ValueError, UnicodeError) as exc:
        raise ProviderKeyUnreadable("the provider key cannot be decrypted") from exc


def provider_key_reencrypt(token: str) -> str:
    """``token`` encrypted again under the first secret (rotation)."""
    try:
        return _cipher(_secrets()).rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise ProviderKeyUnreadable("the provider key cannot be decrypted") from exc
