"""Validation of the canonical chat request (the OpenAI chat-completions shape).

Every known parameter is checked against its documented range, and every part of the
request the gateway or a dialect reads is checked for its shape (a message's content parts,
tool calls, tools, reasoning), so a request that passes can be converted for any route; a
bad value is 400 ``invalid_parameter`` naming the ``param``. Unknown fields pass through to
the upstream.
"""

from __future__ import annotations

from typing import Any

from config.errors import ApiError
from gateway.surfaces.validation.routing_fields import routing_fields_validate
from gateway.surfaces.validation.shapes import (
    expect_bool,
    expect_choice,
    expect_list,
    expect_object,
    expect_str,
    invalid,
    is_int,
    is_number,
    json_checked,
)

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
_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
PART_TYPES = ("text", "image_url", "input_audio", "file", "refusal")


def _is_number(value: Any, kind: type) -> bool:
    return is_int(value) if kind is int else is_number(value)


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


def content_part_check(part: Any, param: str) -> None:
    """One part of a message's content: an object of a known type with its own field."""
    expect_object(part, param)
    kind = expect_choice(part.get("type"), f"{param}.type", PART_TYPES)
    if kind in ("text", "refusal"):
        expect_str(part.get(kind), f"{param}.{kind}")
    elif kind == "image_url":
        image = part.get("image_url")
        if not isinstance(image, str):
            expect_object(image, f"{param}.image_url")
            expect_str(image.get("url"), f"{param}.image_url.url")
            if image.get("detail") is not None:
                expect_str(image["detail"], f"{param}.image_url.detail")
    elif kind == "input_audio":
        audio = expect_object(part.get("input_audio"), f"{param}.input_audio")
        expect_str(audio.get("data"), f"{param}.input_audio.data")
        expect_str(audio.get("format"), f"{param}.input_audio.format")
    else:  # file
        file = expect_object(part.get("file"), f"{param}.file")
        for name in ("file_id", "file_data", "filename"):
            if file.get(name) is not None:
                expect_str(file[name], f"{param}.file.{name}")


def content_check(content: Any, param: str) -> None:
    """A message's content: absent, a string, or an array of content parts."""
    if content is None or isinstance(content, str):
        return
    if not isinstance(content, list):
        raise invalid(param, f"{param} must be a string or an array of content parts")
    for j, part in enumerate(content):
        content_part_check(part, f"{param}[{j}]")


def _check_tool_calls(calls: Any, param: str) -> None:
    for j, call in enumerate(expect_list(calls, param)):
        at = f"{param}[{j}]"
        expect_object(call, at)
        if call.get("id") is not None:
            expect_str(call["id"], f"{at}.id", identifier=True)
        if call.get("type") is not None:
            expect_choice(call["type"], f"{at}.type", ("function",))
        fn = expect_object(call.get("function"), f"{at}.function")
        expect_str(fn.get("name"), f"{at}.function.name", identifier=True)
        arguments = fn.get("arguments")
        if arguments is not None and not isinstance(arguments, str | dict):
            raise invalid(f"{at}.function.arguments", "arguments must be a JSON string")


def _check_messages(messages: Any) -> None:
    if messages is None or messages == []:
        raise ApiError(400, "messages_required", "messages is required", param="messages")
    if not isinstance(messages, list):
        raise invalid("messages", "messages must be an array of message objects")
    for i, message in enumerate(messages):
        at = f"messages[{i}]"
        if not isinstance(message, dict):
            raise invalid(at, "each message must be an object")
        expect_choice(message.get("role"), f"{at}.role", _ROLES)
        content_check(message.get("content"), f"{at}.content")
        if message.get("name") is not None:
            expect_str(message["name"], f"{at}.name", identifier=True)
        if message.get("tool_calls") is not None:
            _check_tool_calls(message["tool_calls"], f"{at}.tool_calls")
        if message.get("tool_call_id") is not None:
            expect_str(message["tool_call_id"], f"{at}.tool_call_id", identifier=True)


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
            expect_str(fn["name"], f"tools[{i}].function.name", identifier=True)
            if fn.get("description") is not None:
                expect_str(fn["description"], f"tools[{i}].function.description")
            if fn.get("parameters") is not None:
                expect_object(fn["parameters"], f"tools[{i}].function.parameters")
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
    if isinstance(choice, dict):
        expect_str(choice["function"].get("name"), "tool_choice.function.name", identifier=True)
    if body.get("parallel_tool_calls") is not None:
        expect_bool(body["parallel_tool_calls"], "parallel_tool_calls")


def _check_reasoning(body: dict[str, Any]) -> None:
    reasoning = body.get("reasoning")
    if reasoning is None:
        return
    expect_object(reasoning, "reasoning")
    if reasoning.get("effort") is not None:
        expect_str(reasoning["effort"], "reasoning.effort")
    budget = reasoning.get("max_tokens")
    if budget is not None and (not is_int(budget) or budget < 0):
        raise invalid("reasoning.max_tokens", "reasoning.max_tokens must be an integer >= 0")
    for name in ("enabled", "exclude"):
        if reasoning.get(name) is not None:
            expect_bool(reasoning[name], f"reasoning.{name}")


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
    options = body.get("stream_options")
    if options is not None:
        expect_object(options, "stream_options")
        if options.get("include_usage") is not None:
            expect_bool(options["include_usage"], "stream_options.include_usage")
    for name in ("logprobs",):
        if body.get(name) is not None:
            expect_bool(body[name], name)
    if body.get("metadata") is not None:
        expect_object(body["metadata"], "metadata")
    user = body.get("user")
    if user is not None:
        expect_str(user, "user", identifier=True)
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in ("minimal", "low", "medium", "high", "none"):
        raise invalid("reasoning_effort", "reasoning_effort must be minimal, low, medium or high")
    _check_reasoning(body)


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
    json_checked(body)
    model = body.get("model")
    if model is None or model == "":
        if not body.get("models"):
            raise ApiError(400, "model_required", "model is required", param="model")
    elif not isinstance(model, str):
        raise invalid("model", "model must be a string")
    routing_fields_validate(body)
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
