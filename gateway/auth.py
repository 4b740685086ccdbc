"""API key authentication for the gateway: the key, its user and the user's credit account
in one query.

On PostgreSQL the query is plain SQL built once from the models' metadata and the instances
are made with ``Model.from_db``: the ORM's per-request query compilation was the largest
single cost of a billed request (measured with bench/ and py-spy). Other databases use the
ORM with the same result.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
from django.core.exceptions import ObjectDoesNotExist
from django.db import connection
from django.db.models import JSONField
from django.http import HttpRequest
from rest_framework.request import Request

from accounts.authentication import ApiKeyAuthentication, apikey_authenticate
from accounts.models import ApiKey, User
from accounts.services import apikey_touch
from billing import sql
from billing.models import CreditAccount
from config.errors import ApiError
from gateway import keycache

_USER_FIELDS = ("is_active", "is_api_enabled")
# is_suspended and recharge_below ride along, so suspension and auto-recharge cost no query
_ACCOUNT_FIELDS = ("id", "balance", "held", "is_suspended", "recharge_below")


@cache
def _statement() -> tuple[str, tuple[str, ...], frozenset[str]]:
    q = connection.ops.quote_name
    fields = ApiKey._meta.concrete_fields
    columns = [f"k.{q(f.column)}" for f in fields]
    columns += [f"u.{q(User._meta.get_field(n).column)}" for n in _USER_FIELDS]
    columns += [f"a.{q(CreditAccount._meta.get_field(n).column)}" for n in _ACCOUNT_FIELDS]
    sql = (
        f"SELECT {', '.join(columns)} FROM {q(ApiKey._meta.db_table)} k "  # noqa: S608
        f"JOIN {q(User._meta.db_table)} u ON u.id = k.user_id "
        f"LEFT JOIN {q(CreditAccount._meta.db_table)} a ON a.user_id = u.id "
        "WHERE k.prefix = %s"
    )
    json_fields = frozenset(f.attname for f in fields if isinstance(f, JSONField))
    return sql, tuple(f.attname for f in fields), json_fields


def _key_from_row(row: tuple[Any, ...]) -> ApiKey:
    _, names, json_fields = _statement()
    n = len(names)
    values = [
        orjson.loads(v) if name in json_fields and isinstance(v, str) else v
        for name, v in zip(names, row[:n], strict=True)
    ]
    key = ApiKey.from_db(connection.alias, names, values)
    user = User.from_db(connection.alias, ("id", *_USER_FIELDS), (key.user_id, row[n], row[n + 1]))
    if row[n + 2] is not None:
        account = CreditAccount.from_db(
            connection.alias,
            ("id", "user_id", *_ACCOUNT_FIELDS[1:]),
            (row[n + 2], key.user_id, *row[n + 3 : n + 2 + len(_ACCOUNT_FIELDS)]),
        )
        user.credit_account = account
    key.user = user
    return key


def account_usable(key: ApiKey) -> ApiKey:
    """The key, unless its account is suspended (403 ``account_suspended``): read from the
    account loaded with the key, no query."""
    try:
        suspended = key.user.credit_account.is_suspended
    except ObjectDoesNotExist:  # a user without an account has nothing to suspend
        return key
    if suspended:
        raise ApiError(
            403,
            "account_suspended",
            "This account is suspended: a refund or dispute took back credits already spent. "
            "Contact support.",
        )
    return key


def apikey_with_account(prefix: str) -> ApiKey | None:
    if connection.vendor != "postgresql":
        rows = ApiKey.objects.select_related("user", "user__credit_account").filter(prefix=prefix)
        return next(iter(rows[:1]), None)
    row = sql.run(_statement()[0], [prefix])
    return None if row is None else _key_from_row(row)


class GatewayKeyAuthentication(ApiKeyAuthentication):
    """Loads the key, its user and the user's credit account in one query."""

    def lookup(self, prefix: str) -> ApiKey | None:
        return apikey_with_account(prefix)

    def authenticate(self, request: Request) -> tuple[Any, ApiKey]:
        user, key = super().authenticate(request)
        return user, account_usable(key)


class KeyChanged(Exception):
    """The provisional key of a request changed in the database since it was cached: the
    request is planned again with ``key`` (nothing was held)."""

    def __init__(self, key: ApiKey) -> None:
        super().__init__(key.prefix)
        self.key = key


class ProvisionalKeyAuthentication(GatewayKeyAuthentication):
    """For the billed endpoints: a key read moments ago is taken from ``gateway.keycache``
    and marked provisional (``request.key_provisional``), to be confirmed by the statement
    that holds the credits or by ``key_confirm``. A cached copy that fails any check is read
    again before the request is refused."""

    def authenticate(self, request: Request) -> tuple[Any, ApiKey]:
        cached = keycache.enabled()
        key = self._cached(request.META) if cached else None
        request._request.key_provisional = key is not None  # type: ignore[attr-defined]
        if key is None:
            key = apikey_authenticate(request.META, lookup=self.lookup)
            if cached:
                keycache.key_put(key)
        # a cached copy may not know of a suspension yet: the reserve's statement refuses a
        # suspended account, and the key is then read again (key_confirm)
        account_usable(key)
        apikey_touch(api_key=key)
        return key.user, key

    @staticmethod
    def _cached(meta: dict[str, Any]) -> ApiKey | None:
        """The cached key these headers present, if it passes every check; None when it is
        not cached or a copy that may be stale refuses it (then it is read)."""
        try:
            return account_usable(apikey_authenticate(meta, lookup=keycache.key_get))
        except ApiError:
            return None


@dataclass(frozen=True, slots=True)
class ProvisionalKey:
    """The provisional key of one request (``planning.Provisional``)."""

    request: HttpRequest
    key: ApiKey

    def confirm(self) -> ApiKey:
        return key_confirm(self.request, self.key)

    def confirmed(self) -> None:
        self.request.key_provisional = False  # type: ignore[attr-defined]


def key_confirm(request: HttpRequest, key: ApiKey) -> ApiKey:
    """End a provisional key: read it from the database. Raises the ApiError of a key that
    is no longer usable, or KeyChanged if it changed since it was cached."""
    keycache.key_forget(key.prefix)
    request.key_provisional = False  # type: ignore[attr-defined]  # read once, even if refused
    fresh = apikey_authenticate(request.META, lookup=apikey_with_account)
    keycache.key_put(fresh)
    account_usable(fresh)
    if fresh.revision != key.revision:
        raise KeyChanged(fresh)
    return fresh
