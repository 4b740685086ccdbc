"""``POST /v1/embeddings``: validated here, billed on prompt tokens."""

from __future__ import annotations

from typing import Any

from config.errors import ApiError
from gateway.providers import Completion
from gateway.records.outcome import Outcome
from gateway.surfaces.validation import (
    expect_int,
    expect_str,
    invalid,
    is_int,
    json_checked,
    routing_fields_validate,
)

MAX_INPUTS = 2048
# Above every embedding model's size (the largest have a few thousand dimensions).
MAX_DIMENSIONS = 65_536


def _is_tokens(value: Any) -> bool:
    """A non-empty array of token ids (integers >= 0)."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(is_int(t) and isinstance(t, int) and t >= 0 for t in value)
    )


def _check_input(value: Any) -> None:
    """OpenAI's four input forms: a string, an array of strings, an array of token ids, an
    array of token arrays. A bare number is none of them, nor is an array mixing forms."""
    if isinstance(value, str) or _is_tokens(value):
        return
    if not isinstance(value, list):
        raise invalid("input", "input must be a string, an array of strings, or token arrays")
    if len(value) > MAX_INPUTS:
        raise invalid("input", f"input may hold at most {MAX_INPUTS} items")
    strings = isinstance(value[0], str)
    for i, item in enumerate(value):
        ok = (isinstance(item, str) and item != "") if strings else _is_tokens(item)
        if not ok:
            form = "a non-empty string" if strings else "a non-empty array of token ids"
            raise invalid(f"input[{i}]", f"input[{i}] must be {form}, like input[0]")


def embeddings_validate(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "The request body must be a JSON object")
    json_checked(body)
    if not body.get("model"):
        raise ApiError(400, "model_required", "model is required", param="model")
    routing_fields_validate(body)
    value = body.get("input")
    if value is None or value == "" or value == []:
        raise ApiError(400, "input_required", "input is required", param="input")
    _check_input(value)
    dims = body.get("dimensions")
    if dims is not None:
        expect_int(dims, "dimensions", low=1, high=MAX_DIMENSIONS)
    fmt = body.get("encoding_format")
    if fmt is not None and fmt not in ("float", "base64"):
        raise invalid("encoding_format", "encoding_format must be float or base64")
    if body.get("user") is not None:
        expect_str(body["user"], "user", identifier=True)
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
