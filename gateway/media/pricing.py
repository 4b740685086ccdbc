"""What a media task costs, in credits (1,000,000 credits = 1 USD).

A media model (``catalog.units.is_media``) is priced by its units: ``image`` x images,
``video_second`` x seconds of video, ``audio_second`` x seconds of audio, plus ``request``
once per task. Its token prices are zero unless the registry sets them
(``catalog.selectors`` gives a media model no fallback token prices), so a token count a
media provider reports is billed only when the model prices tokens. Every cost goes
through ``billing.pricing.cost_compute``: the exact ``Decimal`` sum, rounded up to a whole
credit, and at least ``BILLING_MIN_CHARGE`` unless the model is free.

The estimate, which a task holds, prices what the request asks for: ``n`` images, or
``duration`` seconds of video (required), or ``duration`` seconds of music
(``GATEWAY_MUSIC_DEFAULT_SECONDS`` when not given), plus, for a model that prices prompt
tokens, the prompt's UTF-8 bytes as prompt tokens (every token is at least a byte). The
resolution and input mode do not change a price (no unit depends on them). The settle
charges the actual cost, never more than the hold.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings

from billing.pricing import Cost, Usage, cost_compute, hold_bound
from catalog.selectors import ResolvedModel
from catalog.units import ZERO, Prices
from config.errors import ApiError
from gateway.pipeline import tokens
from gateway.surfaces.validation.chat import max_tokens_of

# The output modality a model needs for each kind of task.
KIND_MODALITY: dict[str, str] = {"image": "image", "video": "video", "music": "audio"}


def seconds_of(value: Any, param: str = "duration") -> Decimal:
    """A number of seconds as an exact ``Decimal`` (a JSON float through its text, so 2.5
    is 2.5), at least zero; ApiError 400 ``invalid_parameter`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise ApiError(400, "invalid_parameter", f"{param} must be a number", param=param)
    try:
        seconds = Decimal(str(value))
    except InvalidOperation:
        raise ApiError(400, "invalid_parameter", f"{param} must be a number", param=param) from None
    if not seconds.is_finite() or seconds < 0:
        raise ApiError(400, "invalid_parameter", f"{param} must be a number >= 0", param=param)
    return seconds


def estimate_usage(
    *, kind: str, n: int = 1, duration: Any = None, prompt: str = "", prices: Prices | None = None
) -> Usage:
    """The usage a request asks for, as the estimate prices it."""
    prompt_tokens = len(prompt.encode()) if prompt and prices is not None and prices.prompt else 0
    if kind == "image":
        return Usage(images=max(int(n), 1), prompt_tokens=prompt_tokens)
    if kind == "video":
        if duration is None:
            raise ApiError(
                400, "invalid_parameter", "duration is required for a video", param="duration"
            )
        return Usage(video_seconds=seconds_of(duration), prompt_tokens=prompt_tokens)
    if kind == "music":
        seconds = (
            seconds_of(duration)
            if duration is not None
            else Decimal(str(settings.GATEWAY_MUSIC_DEFAULT_SECONDS))
        )
        return Usage(audio_seconds=seconds, prompt_tokens=prompt_tokens)
    raise ApiError(400, "invalid_parameter", f"Unknown media kind {kind!r}", param="modality")


def media_estimate(
    model: ResolvedModel,
    *,
    kind: str,
    n: int = 1,
    duration: Any = None,
    resolution: str | None = None,
    input_mode: str | None = None,
    prompt: str = "",
) -> int:
    """The credits a task of ``kind`` on ``model`` holds: the cost of what it asks for
    (at least ``BILLING_MIN_CHARGE`` unless the model is free). ``resolution`` and
    ``input_mode`` are accepted for the API's sake; no price depends on them."""
    usage = estimate_usage(kind=kind, n=n, duration=duration, prompt=prompt, prices=model.prices)
    return media_cost(model.prices, usage).total


def media_cost(model_prices: Prices, usage: Usage) -> Cost:
    """The cost of what a media provider reported producing (``usage``) at these prices."""
    return cost_compute(usage=usage, prices=model_prices)


def text_estimate(model: ResolvedModel, body: dict[str, Any]) -> int:
    """The hold a text request would take: its body's bytes bound its prompt tokens
    (capped at the context length), its ``max_tokens`` (or the model's most output) its
    completion (``gateway.pipeline.tokens``, ``billing.pricing.hold_bound``)."""
    prompt = min(tokens.prompt_bound(body), model.context_length)
    completion = max_tokens_of(body) or model.max_output_tokens
    return hold_bound(prompt_tokens=prompt, completion_tokens=completion, prices=model.prices)


def prices_of(snapshot: dict[str, str]) -> Prices:
    """The ``Prices`` a task's price snapshot (``Prices.as_dict``) was taken from: the
    units it omits are the ones the model did not price (zero)."""
    return Prices(**{name: Decimal(text) for name, text in snapshot.items()})


def usage_json(usage: Usage) -> dict[str, Any]:
    """A media usage as the task row and the Generation's ``native_usage`` keep it: the
    non-zero counts, seconds as decimal text ("4", "2.5")."""
    out: dict[str, Any] = {}
    for name in (
        "images",
        "prompt_tokens",
        "completion_tokens",
        "cached_tokens",
        "reasoning_tokens",
        "cache_write_tokens",
    ):
        if value := getattr(usage, name):
            out[name] = int(value)
    for name in ("video_seconds", "audio_seconds"):
        value = getattr(usage, name)
        if value:
            out[name] = format(Decimal(value).normalize(), "f")
    return out


def usage_of(data: dict[str, Any]) -> Usage:
    """The ``Usage`` a ``usage_json`` dict describes."""
    return Usage(
        images=int(data.get("images") or 0),
        prompt_tokens=int(data.get("prompt_tokens") or 0),
        completion_tokens=int(data.get("completion_tokens") or 0),
        cached_tokens=int(data.get("cached_tokens") or 0),
        reasoning_tokens=int(data.get("reasoning_tokens") or 0),
        cache_write_tokens=int(data.get("cache_write_tokens") or 0),
        video_seconds=Decimal(str(data.get("video_seconds") or ZERO)),
        audio_seconds=Decimal(str(data.get("audio_seconds") or ZERO)),
    )
