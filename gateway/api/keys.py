"""``/v1/keys``: a management key provisions its account's keys (OpenRouter's shapes).

``POST /v1/keys`` makes an inference key through ``accounts.services.apikey_create`` (the
tier's caps, the audit row), answering the key once; ``GET /v1/keys?offset=&limit=`` lists
the account's keys, never a secret; ``GET``, ``PATCH`` and ``DELETE /v1/keys/{hash}`` work on
one (``hash``: its public prefix). Another account's key is 404. Every change goes through
the services the console uses, so it writes the same audit rows (``ApiKeyEvent``, the
management key's owner as actor). ``DELETE`` revokes the key, as the console does: its row
and its history stay, disabled.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpResponse
from rest_framework.request import Request

from accounts.models import ApiKey, LimitReset
from accounts.services import apikey_create, apikey_revoke, apikey_update
from config.errors import ApiError
from gateway.api.base import GatewayView, json_response
from gateway.api.keys_shape import FIELDS, MAX_LIST, PATCHABLE, body_values, key_data, usage_totals
from gateway.api.request_body import json_body


def _one(key: ApiKey) -> dict[str, Any]:
    return key_data(key, usage_totals([key]))


def _int_param(request: Request, name: str, default: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12 or int(raw) > high:
        raise ApiError(
            400, "invalid_parameter", f"{name} must be a whole number from 0 to {high}", param=name
        )
    return int(raw)


class ManagementView(GatewayView):
    key_kinds = frozenset({"management"})

    def key_of(self, request: Request, key_hash: str) -> ApiKey:
        key = ApiKey.objects.filter(user_id=request.auth.user_id, prefix=key_hash[:16]).first()
        if key is None or key.prefix != key_hash:
            raise ApiError(404, "key_not_found", f"No key {key_hash[:40]}", param="hash")
        return key


class KeysView(ManagementView):
    def get(self, request: Request) -> HttpResponse:
        offset = _int_param(request, "offset", 0, 1_000_000)
        limit = _int_param(request, "limit", MAX_LIST, MAX_LIST)
        keys = list(
            ApiKey.objects.filter(user_id=request.auth.user_id).order_by("-created_at", "-id")[
                offset : offset + limit
            ]
        )
        usage = usage_totals(keys)
        return json_response({"data": [key_data(key, usage) for key in keys]})

    def post(self, request: Request) -> HttpResponse:
        raw = json_body(request)
        values = body_values(raw, FIELDS)
        if "name" not in values:
            raise ApiError(400, "invalid_parameter", "name is required", param="name")
        owner = request.user
        created = apikey_create(user=owner, actor=owner, **_create_kwargs(values))
        return json_response({"data": _one(created.api_key), "key": created.secret}, status=201)


def _create_kwargs(values: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": values["name"],
        "monthly_limit": values.get("monthly_limit"),
        "limit_reset": values.get("limit_reset") or LimitReset.NEVER,
        "allowed_models": values.get("allowed_models"),
        "allowed_ips": values.get("allowed_ips"),
        "rate_limit_rpm": values.get("rate_limit_rpm"),
        "expires_at": values.get("expires_at"),
    }


class KeyDetailView(ManagementView):
    def get(self, request: Request, key_hash: str) -> HttpResponse:
        return json_response({"data": _one(self.key_of(request, key_hash))})

    def patch(self, request: Request, key_hash: str) -> HttpResponse:
        key = self.key_of(request, key_hash)
        values = body_values(json_body(request), PATCHABLE)
        with transaction.atomic():
            disable = values.pop("is_disabled", None)
            changed = []
            if disable is True and not key.is_disabled:
                apikey_revoke(api_key=key, actor=request.user)  # the console's revocation
            elif disable is False and key.is_disabled:
                # revoking is final, as in the console (and the tier's key count holds)
                raise ApiError(
                    409,
                    "key_revoked",
                    "A revoked key cannot be enabled again; create a new key",
                )
            for field, value in values.items():
                if getattr(key, field) != value:
                    setattr(key, field, value)
                    changed.append(field)
            apikey_update(api_key=key, changed=changed, actor=request.user)
        return json_response({"data": _one(key)})

    def delete(self, request: Request, key_hash: str) -> HttpResponse:
        key = self.key_of(request, key_hash)
        if not key.is_disabled:
            apikey_revoke(api_key=key, actor=request.user)
        return json_response({"data": {"success": True}})
