"""Validation of the canonical chat request (the OpenAI chat-completions shape).

Every known parameter is checked against its documented range; a bad value is 400
``invalid_parameter`` naming the ``param``. Unknown fields pass through to the upstream.
"""

from __future__ import annotations

import math
from typing import Any

from config.errors import ApiError

# name: (kind, low, low_inclusive, high, high_inclusive)
_NUMBERS: dict[str, tuple[type, float | None, bool, float | None, bool]] = {
    "temperature": (float, 0, True, 2, True),
    "top_p": (float, 0, False, 1, True),
    "top_k": (int, 1, True, None, True),
    "frequency_penalty": (float, -2, True, 2, True),
    "presence_penalty": (float, -2, True, 2, True),
    "repetition_penalty": (float, 0, False, 2, True),
    "min_p": (float, 0, True, 1, True),
    "top_a": (float, 0, True, 1, True),
    "top_logprobs": (int, 0, True, 20, True),
    "seed": (int, None, True, None, True),
    "n": (int, 1, True, 1, True),
}
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def invalid(param: str, message: str) -> ApiError:
    return ApiError(400, "invalid_parameter", message, param=param)


def _is_number(value: Any, kind: type) -> bool:
    if isinstance(value, bool):
        return False
    if kind is int:
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    return isinstance(value, int | float) and math.isfinite(value)


def _check_range(name: str, value: Any) -> None:
    kind, low, low_inc, high, high_inc = _NUMBERS[name]
    if not _is_number(value, kind):
        raise invalid(name, f"{name} must be {'an integer' if kind is int else 'a number'}")
    too_low = low is not None and (value < low if low_inc else value <= low)
    too_high = high is not None and (value > high if high_inc else value >= high)
    if too_low or too_high:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        interval = f"{'[' if low_inc else '('}{lo}, {hi}{']' if high_inc else ')'}"
        raise invalid(name, f"{name} must be in {interval}; got {value}")


def _check_messages(messages: Any) -> None:
    if messages is None or messages == []:
        raise ApiError(400, "messages_required", "messages is required", param="messages")
    if not isinstance(messages, list):
        raise invalid("messages", "messages must be an array of message objects")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise invalid(f"messages[{i}]", "each message must be an object")
        if message.get("role") not in _ROLES:
            raise invalid(
                f"messages[{i}].role",
                f"messages[{i}].role must be one of " + ", ".join(sorted(_ROLES)),
            )
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise invalid(f"messages[{i}].content", "content must be a string or an array")


def _check_stop(stop: Any) -> None:
    if stop is None or isinstance(stop, str):
        return
    if not isinstance(stop, list) or len(stop) > 4 or not all(isinstance(s, str) for s in stop):
        raise invalid("stop", "stop must be a string or an array of at most 4 strings")


def _check_tools(body: dict[str, Any]) -> None:
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise invalid("tools", "tools must be an array")
        for i, tool in enumerate(tools):
            fn = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                raise invalid(f"tools[{i}]", "each tool needs type 'function' and function.name")
    choice = body.get("tool_choice")
    if choice is not None and not (
        choice in ("none", "auto", "required")
        or (isinstance(choice, dict) and isinstance(choice.get("function"), dict))
    ):
        raise invalid(
            "tool_choice",
            "tool_choice must be none, auto, required or "
            '{"type": "function", "function": {"name": ...}}',
        )


def _check_objects(body: dict[str, Any]) -> None:
    bias = body.get("logit_bias")
    if bias is not None and (
        not isinstance(bias, dict)
        or not all(_is_number(v, float) and -100 <= v <= 100 for v in bias.values())
    ):
        raise invalid("logit_bias", "logit_bias maps token ids to numbers in [-100, 100]")
    fmt = body.get("response_format")
    if fmt is not None:
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        if kind not in ("text", "json_object", "json_schema"):
            raise invalid(
                "response_format", "response_format.type must be text, json_object or json_schema"
            )
        if kind == "json_schema" and not isinstance(fmt.get("json_schema"), dict):
            raise invalid("response_format.json_schema", "json_schema must be an object")
    for name, kind_ in (
        ("stream_options", dict),
        ("provider", dict),
        ("reasoning", dict),
        ("transforms", list),
        ("models", list),
    ):
        value = body.get(name)
        if value is not None and not isinstance(value, kind_):
            raise invalid(name, f"{name} must be {'an object' if kind_ is dict else 'an array'}")
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise invalid("user", "user must be a string")
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in ("minimal", "low", "medium", "high", "none"):
        raise invalid("reasoning_effort", "reasoning_effort must be minimal, low, medium or high")


def max_tokens_of(body: dict[str, Any]) -> int | None:
    """The requested completion cap (``max_completion_tokens`` wins over ``max_tokens``)."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is not None:
            if not _is_number(value, int) or value < 1:
                raise invalid(name, f"{name} must be an integer >= 1")
            return int(value)
    return None


def chat_validate(body: Any) -> dict[str, Any]:
    """Check a chat request and return it (unchanged). Model-dependent checks (max_tokens
    against the context length) happen after the model is resolved."""
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "The request body must be a JSON object")
    model = body.get("model")
    if model is None or model == "":
        if not body.get("models"):
            raise ApiError(400, "model_required", "model is required", param="model")
    elif not isinstance(model, str):
        raise invalid("model", "model must be a string")
    _check_messages(body.get("messages"))
    for name in _NUMBERS:
        if body.get(name) is not None:
            _check_range(name, body[name])
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise invalid("stream", "stream must be a boolean")
    max_tokens_of(body)
    _check_stop(body.get("stop"))
    _check_tools(body)
    _check_objects(body)
    return body
