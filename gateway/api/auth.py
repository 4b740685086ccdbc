"""API key authentication for the gateway: the key, its user and the user's credit account
in one query.

The query is plain SQL built once from the models' metadata and the instances are made with
``Model.from_db``: the ORM's per-request query compilation was the largest single cost of a
billed request (measured with bench/ and py-spy). The database's own value converters apply
where it has any (SQLite's booleans and datetimes; none on PostgreSQL).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson
from django.core.exceptions import ObjectDoesNotExist
from django.db import connection
from django.db.models import JSONField
from rest_framework.request import Request

from accounts.authentication import ApiKeyAuthentication, apikey_authenticate
from accounts.models import ApiKey, User
from accounts.services import apikey_touch
from billing.models import CreditAccount
from config import db
from config.errors import ApiError
from gateway.pipeline import keycache

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


@cache
def _converters() -> tuple[tuple[int, tuple[Any, ...], Any], ...]:
    """(column, the database's converters, its expression) for each selected column that
    has any (JSON aside, read with orjson): none on PostgreSQL; SQLite's booleans and
    datetimes."""
    fields = [*ApiKey._meta.concrete_fields]
    fields += [User._meta.get_field(n) for n in _USER_FIELDS]
    fields += [CreditAccount._meta.get_field(n) for n in _ACCOUNT_FIELDS]
    out = []
    for i, f in enumerate(fields):
        if isinstance(f, JSONField):
            continue
        col = f.get_col(f.model._meta.db_table)
        found = (*connection.ops.get_db_converters(col), *f.get_db_converters(connection))
        if found:
            out.append((i, found, col))
    return tuple(out)


def _key_from_row(row: tuple[Any, ...]) -> ApiKey:
    _, names, json_fields = _statement()
    converters = _converters()
    if converters:
        row = _converted(row, converters)
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


def _converted(row: tuple[Any, ...], converters: tuple[Any, ...]) -> tuple[Any, ...]:
    values = list(row)
    for i, found, col in converters:
        for convert in found:
            values[i] = convert(values[i], col, connection)
    return tuple(values)


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
    row = db.run(_statement()[0], [prefix])
    return None if row is None else _key_from_row(row)


class GatewayKeyAuthentication(ApiKeyAuthentication):
    """Loads the key, its user and the user's credit account in one query."""

    def lookup(self, prefix: str) -> ApiKey | None:
        return apikey_with_account(prefix)

    def authenticate(self, request: Request) -> tuple[Any, ApiKey]:
        user, key = super().authenticate(request)
        return user, account_usable(key)


class BilledKeyAuthentication(GatewayKeyAuthentication):
    """For the billed endpoints: the key may be a copy read moments ago, confirmed later in
    the request by the write that holds its credits (``gateway.pipeline.keycache``)."""

    def authenticate(self, request: Request) -> tuple[Any, ApiKey]:
        key = keycache.authenticate(request.META, read=_key_read, usable=account_usable)
        # a cached copy may not know of a suspension yet: the reserve's write refuses a
        # suspended account, and the key is then read again
        account_usable(key)
        apikey_touch(api_key=key)
        return key.user, key


def _key_read(meta: dict[str, Any]) -> ApiKey:
    return apikey_authenticate(meta, lookup=apikey_with_account)
