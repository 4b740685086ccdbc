"""The /v1 API (thin views: parse, validate, delegate to the pipeline, shape the answer)."""

from __future__ import annotations

from typing import Any

import orjson
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.authentication import ApiKeyAuthentication
from billing.selectors import key_month_spend, spendable_get
from catalog.selectors import ResolvedModel, model_list
from config.errors import ApiError
from gateway import pipeline
from gateway.surfaces.chat import chat_response
from gateway.validation import chat_validate


class GatewayKeyAuthentication(ApiKeyAuthentication):
    """Loads the key, its user and the user's credit account in one query."""

    select_related = ("user", "user__credit_account")


def json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> HttpResponse:
    resp = HttpResponse(orjson.dumps(data), status=status, content_type="application/json")
    for name, value in (headers or {}).items():
        resp[name] = value
    return resp


def json_body(request: HttpRequest) -> Any:
    length = request.META.get("CONTENT_LENGTH") or "0"
    if length.isdigit() and int(length) > settings.GATEWAY_MAX_BODY_BYTES:
        raise ApiError(
            413, "payload_too_large", f"The body exceeds {settings.GATEWAY_MAX_BODY_BYTES} bytes"
        )
    raw = request.body
    if not raw:
        raise ApiError(400, "invalid_json", "The request body is empty; send a JSON object")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"The request body is not valid JSON: {exc}") from exc


class GatewayView(APIView):
    authentication_classes = [GatewayKeyAuthentication]
    surface = "openai"

    def caller(self, request: Request) -> pipeline.Caller:
        key = request.auth
        return pipeline.Caller(
            request_id=request._request.request_id,
            api_key=key,
            account_id=key.user.credit_account.pk,
            surface=self.surface,
        )


class ChatCompletionsView(GatewayView):
    surface_name = "chat.completions"

    def post(self, request: Request) -> HttpResponse:
        body = chat_validate(json_body(request._request))
        if body.get("stream"):
            raise ApiError(
                400, "invalid_parameter", "stream: true is not supported yet", param="stream"
            )
        caller = self.caller(request)
        caller.surface = self.surface_name
        admission = pipeline.admit(caller, body)
        result, outcome, cost = pipeline.complete(admission)
        return json_response(chat_response(result, outcome, cost), headers=caller.headers)


def model_entry(model: ResolvedModel) -> dict[str, Any]:
    million = 1_000_000
    prices = model.prices
    per_token = {
        "prompt": str(prices.prompt / million),
        "completion": str(prices.completion / million),
        "input_cache_read": str(prices.cache_read / million),
        "request": str(prices.request / million),
        "image": str(prices.image / million),
    }
    image_out = "image" in model.output_modalities
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
            "prompt": str(prices.prompt),
            "completion": str(prices.completion),
            "input_cache_read": str(prices.cache_read),
            "request": str(prices.request),
            "image": str(prices.image),
        },
        "top_provider": {
            "context_length": model.context_length,
            "max_completion_tokens": model.max_output_tokens,
            "is_moderated": False,
        },
        "providers": sorted({r.provider_slug for r in model.routes}),
        "supported_parameters": list(model.supported_parameters),
        "endpoint": "/v1/images/generations" if image_out else "/v1/chat/completions",
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


class KeyView(GatewayView):
    def get(self, request: Request) -> HttpResponse:
        key = request.auth
        account = key.user.credit_account
        spent, held = key_month_spend(api_key_id=key.pk)
        remaining = None if key.monthly_limit is None else max(key.monthly_limit - spent - held, 0)
        spendable = spendable_get(
            account_id=account.pk, api_key_id=key.pk, monthly_limit=key.monthly_limit
        )
        return json_response(
            {
                "data": {
                    "label": key.display,
                    "name": key.name,
                    "limit": key.monthly_limit,
                    "limit_reset": "monthly",
                    "usage": spent,
                    "usage_monthly": spent,
                    "held": held,
                    "limit_remaining": remaining,
                    "balance": account.balance,
                    "available": account.balance - account.held,
                    "spendable": spendable,
                    "rate_limit": {"requests": key.rate_limit_rpm, "interval": "1m"}
                    if key.rate_limit_rpm
                    else None,
                    "expires_at": key.expires_at.isoformat() if key.expires_at else None,
                    "allowed_models": key.allowed_models,
                    "units": "credits (1,000,000 = 1 USD)",
                }
            }
        )
