"""``POST /v1/embeddings``: validated here, billed on prompt tokens."""

from __future__ import annotations

from typing import Any

from config.errors import ApiError
from gateway.providers import Completion
from gateway.services import Outcome
from gateway.validation import invalid

MAX_INPUTS = 2048


def embeddings_validate(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "The request body must be a JSON object")
    if not body.get("model"):
        raise ApiError(400, "model_required", "model is required", param="model")
    if not isinstance(body["model"], str):
        raise invalid("model", "model must be a string")
    value = body.get("input")
    if value is None or value == "" or value == []:
        raise ApiError(400, "input_required", "input is required", param="input")
    items = value if isinstance(value, list) else [value]
    if len(items) > MAX_INPUTS:
        raise invalid("input", f"input may hold at most {MAX_INPUTS} items")
    for item in items:
        ok = isinstance(item, str) and item != ""
        ok = ok or (isinstance(item, int) and not isinstance(item, bool))
        ok = ok or (isinstance(item, list) and all(isinstance(t, int) for t in item) and item)
        if not ok:
            raise invalid("input", "input must be a string, an array of strings, or token arrays")
    dims = body.get("dimensions")
    if dims is not None and (isinstance(dims, bool) or not isinstance(dims, int) or dims < 1):
        raise invalid("dimensions", "dimensions must be an integer >= 1")
    fmt = body.get("encoding_format")
    if fmt is not None and fmt not in ("float", "base64"):
        raise invalid("encoding_format", "encoding_format must be float or base64")
    return body


def embeddings_response(result: Completion, outcome: Outcome, cost: int) -> dict[str, Any]:
    body = result.body
    body["object"] = "list"
    body["id"] = outcome.request_id
    body["model"] = outcome.model
    body["provider"] = outcome.provider
    body["usage"] = {
        "prompt_tokens": outcome.usage.prompt_tokens,
        "total_tokens": outcome.usage.prompt_tokens,
        "cost": cost,
    }
    return body
