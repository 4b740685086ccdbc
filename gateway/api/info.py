"""The /v1 endpoints that charge nothing: the models list and one model (public), the
calling key (``/v1/key``), one request's record (``/v1/generation``) and Anthropic's
``count_tokens``."""

from __future__ import annotations

from typing import Any

import orjson
from django.http import HttpResponse
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.views import APIView

from billing.selectors import key_month_spend, spendable_get
from catalog.selectors import ResolvedModel, decimal_text, model_list, model_resolve
from config.errors import ApiError
from config.money import credits_to_usd, period_start
from gateway.api.base import GatewayView, RecordsRefusals, json_response
from gateway.api.keys_shape import key_data, usage_totals
from gateway.api.request_body import json_body
from gateway.pipeline import tokens
from gateway.records.selectors import generation_detail, generation_get
from gateway.surfaces.messages import messages_to_canonical

# The endpoint /v1/models names for a model producing each media output (else chat).
MEDIA_ENDPOINTS = (
    ("image", "/v1/images/generations"),
    ("video", "/v1/videos"),
    ("audio", "/v1/music/generations"),
)


class GenerationView(GatewayView):
    def get(self, request: Request) -> HttpResponse:
        request_id = request.query_params.get("id") or ""
        if not request_id:
            raise ApiError(400, "invalid_parameter", "id is required", param="id")
        if "\x00" in request_id:  # no database column holds a NUL
            raise ApiError(400, "invalid_parameter", "id must not contain NUL", param="id")
        generation = generation_get(request_id=request_id, user_id=request.auth.user_id)
        if generation is None:
            raise ApiError(404, "generation_not_found", f"No generation {request_id}", param="id")
        return json_response({"data": generation_detail(generation)})


class CountTokensView(RecordsRefusals):
    """Anthropic's ``count_tokens``: an estimate, no charge and no record, but a request
    about a model, so its refusals (a bad body, a suspended account, the rate limit) are in
    the request log as the billed surfaces' are."""

    surface = "anthropic"
    surface_name = "messages.count_tokens"

    def post(self, request: Request) -> HttpResponse:
        raw = json_body(request)
        if isinstance(raw, dict):
            raw.setdefault("max_tokens", 1)
        body = messages_to_canonical(raw)
        text = tokens.message_text(body["messages"])
        extra = orjson.dumps(body.get("tools")).decode() if body.get("tools") else ""
        return json_response({"input_tokens": tokens.estimate(text + extra)})


def model_entry(model: ResolvedModel) -> dict[str, Any]:
    listed = model.prices.listed()  # the price units always shown, and any other it sets
    per_token = {unit.api_key: decimal_text(credits_to_usd(price)) for unit, price in listed}
    endpoint = next(
        (path for output, path in MEDIA_ENDPOINTS if output in model.output_modalities),
        "/v1/chat/completions",
    )
    return {
        "id": model.public_id,
        "object": "model",
        "canonical_slug": model.public_id,
        "name": model.name,
        "created": model.created,
        "owned_by": model.public_id.split("/", 1)[0],
        "description": model.description,
        "context_length": model.context_length,
        "architecture": {
            "modality": "+".join(model.input_modalities) + "->" + "+".join(model.output_modalities),
            "input_modalities": list(model.input_modalities),
            "output_modalities": list(model.output_modalities),
        },
        "pricing": per_token,
        "pricing_credits": {
            "unit": "credits (1,000,000 = 1 USD) per token; request and image per unit",
            **{unit.api_key: decimal_text(price) for unit, price in listed},
        },
        "top_provider": {
            "context_length": model.context_length,
            "max_completion_tokens": model.max_output_tokens,
            "is_moderated": False,
        },
        "providers": sorted({r.provider_slug for r in model.routes}),
        "supported_parameters": list(model.supported_parameters),
        "endpoint": endpoint,
    }


class ModelsView(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> HttpResponse:
        modality = request.query_params.get("output_modalities") or None
        if modality and modality not in ("text", "image", "audio", "video", "embeddings"):
            raise ApiError(
                400,
                "invalid_parameter",
                "output_modalities must be text, image, audio, video or embeddings",
                param="output_modalities",
            )
        models = model_list(output_modality=modality)
        return json_response({"object": "list", "data": [model_entry(m) for m in models]})


class ModelView(APIView):
    """One enabled model by id or alias (the OpenAI SDK's ``models.retrieve``)."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    def get(self, request: Request, model_id: str) -> HttpResponse:
        model = model_resolve(name=model_id)
        if model is None or not model.is_enabled:
            raise ApiError(
                404, "model_not_available", f"Model {model_id} is not available", param="model"
            )
        return json_response(model_entry(model))


class KeyView(GatewayView):
    """The calling key, as OpenRouter's ``/v1/key``: the limit and usage in USD, each with its
    exact ``*_credits`` integer (the same fields as ``/v1/keys``' data), and the account's
    ``balance``, ``held``, ``available`` and ``spendable`` in credits."""

    key_kinds = frozenset({"inference", "management"})

    def get(self, request: Request) -> HttpResponse:
        key = request.auth
        account = key.user.credit_account
        shown = key_data(key, usage_totals([key]))
        # the limit's room from the key's tracked period (KeySpend, what the reserve enforces)
        start = period_start(key.limit_period)
        _spent, held = key_month_spend(api_key_id=key.pk, month=start)
        spendable = spendable_get(
            account_id=account.pk,
            api_key_id=key.pk,
            monthly_limit=key.monthly_limit,
            month=start,
        )
        fields = (
            "label", "name", "is_management_key", "disabled",
            "limit", "limit_remaining", "limit_reset",
            "usage", "usage_daily", "usage_weekly", "usage_monthly",
            "limit_credits", "limit_remaining_credits", "usage_credits",
            "usage_daily_credits", "usage_weekly_credits", "usage_monthly_credits",
            "allowed_models", "expires_at",
        )  # fmt: skip
        data = {name: shown[name] for name in fields}
        return json_response(
            {
                "data": {
                    **data,
                    "is_free_tier": False,
                    "balance": account.balance,
                    "held": held,
                    "available": account.balance - account.held,
                    "spendable": spendable,
                    "rate_limit": {"requests": key.rate_limit_rpm, "interval": "1m"}
                    if key.rate_limit_rpm
                    else None,
                    "units": "limit, limit_remaining, usage*: USD; *_credits, balance, held, "
                    "available, spendable: credits (1,000,000 = 1 USD)",
                }
            }
        )
