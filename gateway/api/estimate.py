"""``POST /v1/credits/estimate`` (public: no key needed, a key is ignored): what a request
would hold, in credits, before it is sent.

``{model, modality?, n?, duration?, resolution?, input_mode?, max_credits?}`` answers
``{"model", "credits", "usd", "max_credits", "within_budget"}``. A media model's estimate
is what its task holds (``gateway.media.pricing.media_estimate``: n images, the video's
seconds, the music's seconds or ``GATEWAY_MUSIC_DEFAULT_SECONDS``; the prompt's bytes when
the model prices prompt tokens, so send the prompt to get the exact hold). A text model's
is the hold of a chat request with this ``prompt`` or ``messages`` and ``max_tokens``
(``text_estimate``). ``within_budget`` is whether it is at most ``max_credits`` (true
without one): a task whose estimate exceeds its ``max_credits`` is refused with 402
``max_credits_exceeded``.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.views import APIView

from catalog.selectors import ResolvedModel, model_resolve
from config.errors import ApiError
from config.money import credits_to_usd
from gateway.api.base import json_response
from gateway.api.request_body import json_body
from gateway.media.pricing import KIND_MODALITY, media_estimate, text_estimate
from gateway.media.validation import KINDS, EstimateBody, estimate_validate
from gateway.surfaces.validation import chat_validate, invalid

# the estimate's own fields, left out of a text model's body
_ESTIMATE_FIELDS = ("modality", "n", "duration", "resolution", "input_mode", "max_credits")


def _model(name: str) -> ResolvedModel:
    model = model_resolve(name=name)
    if model is None or not model.is_enabled:
        raise ApiError(404, "model_not_available", f"Model {name} is not available", param="model")
    return model


def _kind(model: ResolvedModel, modality: str | None) -> str:
    """The estimate's kind: the modality asked for, which the model must produce, or the
    model's own (image, video, music; text otherwise)."""
    outputs = model.output_modalities
    if modality is None:
        return next((k for k in KINDS if KIND_MODALITY[k] in outputs), "text")
    produced = KIND_MODALITY.get(modality, modality)
    media = any(KIND_MODALITY[k] in outputs for k in KINDS)
    if produced not in outputs or (modality == "text" and media):
        raise invalid("modality", f"Model {model.public_id} does not produce {modality}")
    return modality


def _text_body(checked: EstimateBody) -> dict[str, Any]:
    """A text model's request as the estimate reads it: the body without the estimate's
    own fields, its messages checked as a chat request's."""
    body = {k: v for k, v in checked.body.items() if k not in _ESTIMATE_FIELDS}
    if body.get("messages") is not None:
        chat_validate(body)
    return body


def estimate_of(checked: EstimateBody) -> tuple[ResolvedModel, int]:
    """The model and the credits its request would hold."""
    model = _model(checked.model)
    kind = _kind(model, checked.modality)
    if kind == "text":
        return model, text_estimate(model, _text_body(checked))
    prompt = checked.body.get("prompt")
    credits = media_estimate(
        model,
        kind=kind,
        n=checked.n,
        duration=checked.duration,
        resolution=checked.resolution,
        input_mode=checked.input_mode,
        prompt=prompt if isinstance(prompt, str) else "",
    )
    return model, credits


class EstimateView(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    def post(self, request: Request) -> HttpResponse:
        checked = estimate_validate(json_body(request))
        model, credits = estimate_of(checked)
        budget = checked.max_credits
        return json_response(
            {
                "model": model.public_id,
                "credits": credits,
                "usd": float(credits_to_usd(credits)),
                "max_credits": budget,
                "within_budget": budget is None or credits <= budget,
            }
        )
