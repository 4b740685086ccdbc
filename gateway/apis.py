"""The /v1 API (thin views: parse, validate, delegate to the pipeline, shape the answer)."""

from __future__ import annotations

from typing import Any

import orjson
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.views import APIView

from billing.selectors import key_month_spend, spendable_get
from catalog.selectors import ResolvedModel, decimal_text, model_list, model_resolve
from config.errors import ApiError
from config.money import credits_to_usd
from gateway import pipeline, tokens
from gateway.auth import BilledKeyAuthentication, GatewayKeyAuthentication
from gateway.errors import error_response
from gateway.formats.anthropic_inbound import response_from_canonical
from gateway.gate import gate_enter, gate_leave
from gateway.providers import Completion
from gateway.ratelimit import ratelimit_hit
from gateway.records import Outcome
from gateway.request_body import body_bytes, json_body
from gateway.selectors import generation_detail, generation_get
from gateway.streaming import StreamEncoder, stream_open, stream_relay
from gateway.surfaces.chat import ChatStreamEncoder, chat_response
from gateway.surfaces.completions import (
    CompletionStreamEncoder,
    completion_response,
    completions_to_chat,
)
from gateway.surfaces.embeddings import embeddings_response, embeddings_validate
from gateway.surfaces.messages import (
    MessagesStreamEncoder,
    messages_to_canonical,
    native_request,
    native_response,
)
from gateway.surfaces.responses import (
    ResponsesStreamEncoder,
    response_from_chat,
    responses_to_canonical,
)
from gateway.validation import chat_validate


def json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> HttpResponse:
    resp = HttpResponse(orjson.dumps(data), status=status, content_type="application/json")
    for name, value in (headers or {}).items():
        resp[name] = value
    return resp


def stream_response(
    admission: pipeline.Admission, encoder: StreamEncoder, headers: dict[str, str]
) -> StreamingHttpResponse:
    """Open the upstream stream (failing over before the first byte) and relay it."""
    opened = stream_open(admission)
    resp = StreamingHttpResponse(stream_relay(opened, encoder), content_type="text/event-stream")
    resp["Cache-Control"] = "no-cache"
    resp["X-Accel-Buffering"] = "no"
    for name, value in headers.items():
        resp[name] = value
    return resp


class GatewayView(APIView):
    authentication_classes = [GatewayKeyAuthentication]
    surface = "openai"  # the error shape: openai or anthropic
    surface_name = ""  # what the request log calls this endpoint

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        gate_enter()  # before authentication, the request's first query
        super().initial(request, *args, **kwargs)
        self.rate_count(request)

    def rate_count(self, request: Request) -> None:
        """The key's rate limit, one count per request shared by all its endpoints."""
        key = request.auth
        if key.rate_limit_rpm:
            self.headers.update(ratelimit_hit(key_id=key.pk, limit=key.rate_limit_rpm))

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """The admission slot (gateway.gate) is held from before authentication until the
        connection is given back before the upstream call, and given back here on every
        other path: an answer, an error, or an exception that escaped DRF's handler
        (``finalize_response`` is not called then). A POST's body is read before the slot
        is taken."""
        if request.method == "POST":
            # The whole body first: a client slow to send it must not hold a slot meanwhile.
            try:
                body_bytes(request)
            except ApiError as err:
                return error_response(err, surface=self.surface)
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            gate_leave()

    def caller(self, request: Request) -> pipeline.Caller:
        key = request.auth
        return pipeline.Caller(
            request_id=request._request.request_id,
            api_key=key,
            account_id=key.user.credit_account.pk,
            surface=self.surface_name,
            environ=request.META,
        )


class SurfaceView(GatewayView):
    """One billed endpoint: its request converted to the canonical form, the money path,
    and the answer converted back (or streamed through the surface's encoder)."""

    authentication_classes = [BilledKeyAuthentication]
    operation = "complete"

    def rate_count(self, request: Request) -> None:
        pass  # counted by the pipeline, once even when the request is planned again

    def canonical(self, raw: Any) -> dict[str, Any]:
        raise NotImplementedError

    def native(self, raw: dict[str, Any], request: Request) -> pipeline.Native | None:
        return None

    def encoder(self, raw: dict[str, Any]) -> StreamEncoder:
        raise ApiError(400, "invalid_parameter", "stream is not supported here", param="stream")

    def render(
        self, raw: dict[str, Any], result: Completion, outcome: Outcome, cost: int
    ) -> dict[str, Any]:
        raise NotImplementedError

    def post(self, request: Request) -> HttpResponse:
        caller = self.caller(request)
        with pipeline.admitting(caller):
            return self.handle(request, caller)

    def handle(self, request: Request, caller: pipeline.Caller) -> HttpResponse:
        raw = json_body(request._request)
        body = self.canonical(raw)
        encoder = self.encoder(raw) if body.get("stream") else None  # refused before a hold
        admission = pipeline.admit(
            caller, body, operation=self.operation, native=self.native(raw, request)
        )
        if encoder is not None:
            return stream_response(admission, encoder, caller.headers)
        result, outcome, cost = pipeline.complete(admission)
        return json_response(self.render(raw, result, outcome, cost), headers=caller.headers)


class ChatCompletionsView(SurfaceView):
    surface_name = "chat.completions"

    def canonical(self, raw: Any) -> dict[str, Any]:
        return chat_validate(raw)

    def encoder(self, raw: dict[str, Any]) -> StreamEncoder:
        return ChatStreamEncoder()

    def render(
        self, raw: dict[str, Any], result: Completion, outcome: Outcome, cost: int
    ) -> dict[str, Any]:
        return chat_response(result, outcome, cost)


class CompletionsView(SurfaceView):
    surface_name = "completions"

    def canonical(self, raw: Any) -> dict[str, Any]:
        return chat_validate(completions_to_chat(raw))

    def encoder(self, raw: dict[str, Any]) -> StreamEncoder:
        return CompletionStreamEncoder()

    def render(
        self, raw: dict[str, Any], result: Completion, outcome: Outcome, cost: int
    ) -> dict[str, Any]:
        return completion_response(result, outcome, cost)


class EmbeddingsView(SurfaceView):
    surface_name = "embeddings"
    operation = "embed"

    def canonical(self, raw: Any) -> dict[str, Any]:
        return embeddings_validate(raw)

    def render(
        self, raw: dict[str, Any], result: Completion, outcome: Outcome, cost: int
    ) -> dict[str, Any]:
        return embeddings_response(result, outcome, cost)


class MessagesView(SurfaceView):
    surface = "anthropic"
    surface_name = "messages"

    def canonical(self, raw: Any) -> dict[str, Any]:
        return chat_validate(messages_to_canonical(raw))

    def native(self, raw: dict[str, Any], request: Request) -> pipeline.Native | None:
        return native_request(raw, request.META)

    def encoder(self, raw: dict[str, Any]) -> StreamEncoder:
        return MessagesStreamEncoder()

    def render(
        self, raw: dict[str, Any], result: Completion, outcome: Outcome, cost: int
    ) -> dict[str, Any]:
        if result.native is not None:
            return native_response(result.native, outcome, cost)
        chat = chat_response(result, outcome, cost)
        return response_from_canonical(chat, usage=outcome.usage, cost=cost)


class ResponsesView(SurfaceView):
    surface_name = "responses"

    def canonical(self, raw: Any) -> dict[str, Any]:
        return chat_validate(responses_to_canonical(raw))

    def encoder(self, raw: dict[str, Any]) -> StreamEncoder:
        return ResponsesStreamEncoder(raw)

    def render(
        self, raw: dict[str, Any], result: Completion, outcome: Outcome, cost: int
    ) -> dict[str, Any]:
        return response_from_chat(raw, chat_response(result, outcome, cost), outcome, cost)


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


class CountTokensView(GatewayView):
    surface = "anthropic"

    def post(self, request: Request) -> HttpResponse:
        raw = json_body(request._request)
        if isinstance(raw, dict):
            raw.setdefault("max_tokens", 1)
        body = messages_to_canonical(raw)
        text = tokens.message_text(body["messages"])
        extra = orjson.dumps(body.get("tools")).decode() if body.get("tools") else ""
        return json_response({"input_tokens": tokens.estimate(text + extra)})


def model_entry(model: ResolvedModel) -> dict[str, Any]:
    listed = model.prices.listed()  # the price units always shown, and any other it sets
    per_token = {unit.api_key: decimal_text(credits_to_usd(price)) for unit, price in listed}
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
            **{unit.api_key: decimal_text(price) for unit, price in listed},
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
