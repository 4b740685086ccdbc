"""Key format and hashing. ``sk-<prefix>-<secret>``: 12 hex characters of public prefix,
43 URL-safe characters (256 bits) of secret."""

import hashlib
import hmac
import secrets

PREFIX_BYTES = 6


def key_generate() -> tuple[str, str, str]:
    """A new key: (full key, prefix, sha256 hex of the full key)."""
    prefix = secrets.token_hex(PREFIX_BYTES)
    full = f"sk-{prefix}-{secrets.token_urlsafe(32)}"
    return full, prefix, key_hash(full)


def key_hash(full: str) -> str:
    return hashlib.sha256(full.encode()).hexdigest()


def key_prefix(full: str) -> str | None:
    """The public prefix of a well-formed key, else None."""
    if not full.startswith("sk-") or len(full) > 200:
        return None
    prefix, sep, secret = full[3:].partition("-")
    if not sep or not secret or len(prefix) != PREFIX_BYTES * 2:
        return None
    return prefix


def key_matches(full: str, stored_hash: str) -> bool:
    return hmac.compare_digest(key_hash(full), stored_hash)
