"""Which models a request may use, and how much of the caller's credits to hold for it.

The hold is an upper bound of the cost (DESIGN.md, step 3): the whole body's UTF-8 bytes
bound its input tokens (``gateway.pipeline.tokens.prompt_bound``), capped at the model's context
length; the completion is bounded by the client's ``max_tokens`` or, when absent, by what
the account and the key can afford, plus a predicted output's bytes. That cap is the only
completion cap sent upstream (``gateway.pipeline.upstream.upstream_body``), so no field of the
request can ask for more output than was held.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from accounts.models import ApiKey
from billing.ledger import InsufficientCredits, KeyCheck, KeyLimitExceeded
from billing.pricing import affordable_completion_tokens, hold_bound
from billing.selectors import key_month_spend
from catalog.selectors import ResolvedModel, model_resolve
from config.errors import ApiError
from config.money import period_start
from gateway.pipeline import tokens
from gateway.surfaces.validation import invalid, max_tokens_of


@dataclass(slots=True)
class Caller:
    request_id: str
    api_key: ApiKey
    account_id: int
    surface: str
    started: float = field(default_factory=time.monotonic)
    headers: dict[str, str] = field(default_factory=dict)
    # Set while the key is provisional (gateway.pipeline.keycache), until the reserve checks
    # it or it is read from the database.
    provisional: Provisional | None = None
    # The request's own state (the WSGI environ), which outlives a re-planning.
    environ: dict[str, Any] = field(default_factory=dict)


class Provisional(Protocol):
    """A key read moments ago (``gateway.pipeline.keycache``), not yet confirmed for this
    request."""

    def check(self) -> KeyCheck:
        """The key's validity, for the reserve to check in its own write."""

    def confirm(self) -> ApiKey:
        """Read the key from the database: raises its ApiError or KeyChanged."""


def caller_confirm(caller: Caller) -> None:
    """Make sure the caller's key was read from the database for this request."""
    if caller.provisional is not None:
        provisional, caller.provisional = caller.provisional, None
        caller.api_key = provisional.confirm()


def caller_confirmed(caller: Caller) -> None:
    """The caller's key was checked by the write that held its credits."""
    caller.provisional = None


@dataclass(slots=True)
class Candidate:
    model: ResolvedModel
    max_tokens: int
    hold: int


def _model_allowed(key: ApiKey, name: str, model: ResolvedModel) -> bool:
    """An allowlist entry may name the model by its public id or any alias."""
    allowed = key.allowed_models
    if not allowed or name in allowed or model.public_id in allowed:
        return True
    return any(
        (entry := model_resolve(name=item)) is not None and entry.id == model.id for item in allowed
    )


def candidates_resolve(key: ApiKey, body: dict[str, Any]) -> list[ResolvedModel]:
    names: list[str] = []
    if body.get("model"):
        names.append(body["model"])
    for extra in body.get("models") or []:
        if not isinstance(extra, str):
            raise invalid("models", "models must be an array of model ids")
        if extra not in names:
            names.append(extra)
    found: list[ResolvedModel] = []
    first_error: ApiError | None = None
    for name in names:
        model = model_resolve(name=name)
        if model is None or not model.is_enabled:
            err = ApiError(
                404, "model_not_available", f"Model {name} is not available", param="model"
            )
        elif not _model_allowed(key, name, model):
            err = ApiError(
                403, "model_not_allowed", f"This API key may not use model {name}", param="model"
            )
        else:
            if model not in found:
                found.append(model)
            continue
        first_error = first_error or err
    if not found:
        raise first_error or ApiError(400, "model_required", "model is required", param="model")
    return found


def plan(
    caller: Caller,
    body: dict[str, Any],
    models: list[ResolvedModel],
    operation: str,
    *,
    native: dict[str, Any] | None = None,
) -> list[Candidate]:
    """A candidate per affordable model: the completion cap the gateway sends upstream (the
    client's ``max_tokens``, or what the budget pays for) and the hold bounding the cost.
    ``native`` is the surface's own body, which a route of its dialect receives instead."""
    requested = max_tokens_of(body)
    bound = tokens.prompt_bound(body, native)
    predicted = tokens.prediction_bound(body, native)
    budget: int | None = None
    candidates: list[Candidate] = []
    for model in models:
        prompt = min(bound, model.context_length)
        if operation == "embed":
            cap = 0
        elif requested is not None:
            if requested >= model.context_length and model is models[0]:
                # name the field the client sent (max_completion_tokens wins, as in validation)
                name = (
                    "max_completion_tokens"
                    if body.get("max_completion_tokens") is not None
                    else "max_tokens"
                )
                raise invalid(
                    name,
                    f"{name} must be below the model's context length ({model.context_length})",
                )
            cap = requested
        else:
            if budget is None:
                budget = _budget(caller)
            affordable = affordable_completion_tokens(
                budget=budget, prompt_tokens=prompt, prices=model.prices
            )
            cap = min(model.max_output_tokens, affordable - predicted)
            if cap < 1:
                if model is models[0] and len(models) == 1:
                    raise _too_poor(caller, budget, model, prompt)
                continue
        completion = cap + predicted
        candidates.append(
            Candidate(
                model=model,
                max_tokens=cap,
                hold=hold_bound(
                    prompt_tokens=prompt, completion_tokens=completion, prices=model.prices
                ),
            )
        )
    if not candidates:
        raise _too_poor(caller, budget or 0, models[0], min(bound, models[0].context_length))
    return candidates


def _too_poor(
    caller: Caller, budget: int, model: ResolvedModel, prompt: int
) -> InsufficientCredits | KeyLimitExceeded:
    need = hold_bound(prompt_tokens=prompt, completion_tokens=1, prices=model.prices)
    limited = caller.api_key.monthly_limit is not None
    cls = KeyLimitExceeded if limited and _key_binds(caller, budget) else InsufficientCredits
    return cls(
        f"Insufficient credits: {budget} credits can be spent, and even a one-token "
        f"completion of {model.public_id} may cost up to {need} credits"
    )


def _available(caller: Caller) -> int:
    """The account's available credits as loaded with the key (moments ago). Only sizes the
    completion cap; the conditional update of the reserve is what decides."""
    caller_confirm(caller)  # a cached key's balance is not fresh enough to size the cap
    account = caller.api_key.user.credit_account
    return max(account.balance - account.held, 0)


def _budget(caller: Caller) -> int:
    """What a new request may hold: the account's available credits, and no more than what
    is left of the key's spend limit in its current period."""
    key = caller.api_key
    amount = _available(caller)
    if key.monthly_limit is not None:
        spent, held = key_month_spend(api_key_id=key.pk, month=period_start(key.limit_period))
        amount = min(amount, key.monthly_limit - spent - held)
    return max(amount, 0)


def _key_binds(caller: Caller, budget: int) -> bool:
    return budget < _available(caller)
