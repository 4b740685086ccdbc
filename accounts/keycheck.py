"""The rule of a usable API key, as a predicate another app can check in its own write
without knowing the rule: the key is at the revision the caller read (no change since),
not disabled, not expired, and its user is active and allowed the API.

``KeyCheck`` is what billing's reserve takes: the PostgreSQL ledger puts ``predicate()``
into its single reserve statement (an EXISTS over the key and its user, reading the named
parameters ``%(kc_key)s`` and ``%(kc_revision)s`` from ``params()``); the ORM ledger calls
``holds()`` inside its reserve transaction. Both say the same thing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.utils import timezone

from accounts.models import ApiKey, User


@dataclass(frozen=True, slots=True)
class KeyCheck:
    """The key ``api_key_id`` is still usable as read at ``revision``."""

    api_key_id: int
    revision: int

    def params(self) -> dict[str, Any]:
        return {"kc_key": self.api_key_id, "kc_revision": self.revision}

    @staticmethod
    def predicate() -> str:
        """The rule as one SQL boolean expression over the named parameters of ``params``."""
        return _predicate()

    def holds(self) -> bool:
        """The rule through the ORM (one query)."""
        now = timezone.now()
        return ApiKey.objects.filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now),
            pk=self.api_key_id,
            revision=self.revision,
            is_disabled=False,
            user__is_active=True,
            user__is_api_enabled=True,
        ).exists()


@functools.cache
def _predicate() -> str:
    key, user = f'"{ApiKey._meta.db_table}"', f'"{User._meta.db_table}"'
    return f"""EXISTS (
        SELECT 1 FROM {key} k JOIN {user} u ON u.id = k.user_id
        WHERE k.id = %(kc_key)s::bigint AND k.revision = %(kc_revision)s::integer
          AND NOT k.is_disabled AND (k.expires_at IS NULL OR k.expires_at > now())
          AND u.is_active AND u.is_api_enabled
    )"""  # noqa: S608 - table names come from the models, values are parameters
