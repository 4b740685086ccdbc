"""The shape of an OpenAI Responses request (``/v1/responses``), checked before it becomes
a canonical chat request: input items and their content parts, tools, ``text.format`` and
``reasoning``. Field ranges (temperature, max_output_tokens...) are checked on the
canonical form by ``chat_validate``."""

from __future__ import annotations

from typing import Any

from config.errors import ApiError
from gateway.surfaces.validation.routing_fields import routing_fields_validate
from gateway.surfaces.validation.shapes import (
    expect_bool,
    expect_choice,
    expect_int,
    expect_list,
    expect_object,
    expect_str,
    invalid,
    json_checked,
)

ROLES = ("user", "assistant", "system", "developer")
PART_TYPES = ("input_text", "output_text", "text", "input_image", "input_file", "refusal")
FORMATS = ("text", "json_object", "json_schema")


def part_check(part: Any, param: str) -> None:
    """One content part of an input message."""
    expect_object(part, param)
    kind = expect_choice(part.get("type"), f"{param}.type", PART_TYPES)
    if kind in ("input_text", "output_text", "text"):
        expect_str(part.get("text"), f"{param}.text")
    elif kind == "refusal":
        expect_str(part.get("refusal"), f"{param}.refusal")
    elif kind == "input_image":
        if part.get("image_url") is None and part.get("file_id") is None:
            raise invalid(f"{param}.image_url", f"{param} needs image_url or file_id")
        for name in ("image_url", "file_id", "detail"):
            if part.get(name) is not None:
                expect_str(part[name], f"{param}.{name}")
    else:  # input_file
        for name in ("file_id", "file_data", "filename", "file_url"):
            if part.get(name) is not None:
                expect_str(part[name], f"{param}.{name}")


def _check_item(item: Any, param: str) -> None:
    expect_object(item, param)
    kind = item.get("type", "message")
    if kind == "message":
        expect_choice(item.get("role"), f"{param}.role", ROLES)
        content = item.get("content")
        if not isinstance(content, str):
            for j, part in enumerate(expect_list(content, f"{param}.content")):
                part_check(part, f"{param}.content[{j}]")
    elif kind == "function_call":
        expect_str(item.get("call_id"), f"{param}.call_id", identifier=True)
        expect_str(item.get("name"), f"{param}.name", identifier=True, nonempty=True)
        if item.get("arguments") is not None:
            expect_str(item["arguments"], f"{param}.arguments")
    elif kind == "function_call_output":
        expect_str(item.get("call_id"), f"{param}.call_id", identifier=True)
        if item.get("output") is None:
            raise invalid(f"{param}.output", f"{param}.output is required")
    elif kind != "reasoning":
        raise invalid(f"{param}.type", f"input item type {kind!r} is not supported")


def _check_tools(body: dict[str, Any]) -> None:
    if body.get("tools") is not None:
        for i, tool in enumerate(expect_list(body["tools"], "tools")):
            at = f"tools[{i}]"
            expect_object(tool, at)
            if tool.get("type") != "function" or not tool.get("name"):
                raise invalid(at, "only function tools with a name are supported")
            expect_str(tool["name"], f"{at}.name", identifier=True)
            if tool.get("description") is not None:
                expect_str(tool["description"], f"{at}.description")
            if tool.get("parameters") is not None:
                expect_object(tool["parameters"], f"{at}.parameters")
            if tool.get("strict") is not None:
                expect_bool(tool["strict"], f"{at}.strict")
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "function":
        expect_str(choice.get("name"), "tool_choice.name", identifier=True)
    elif choice is not None and not isinstance(choice, dict):
        expect_choice(choice, "tool_choice", ("none", "auto", "required"))


def _check_options(body: dict[str, Any]) -> None:
    if body.get("max_output_tokens") is not None:
        expect_int(body["max_output_tokens"], "max_output_tokens", low=1)
    if body.get("instructions") is not None:
        expect_str(body["instructions"], "instructions")
    if body.get("text") is not None:
        text = expect_object(body["text"], "text")
        if text.get("format") is not None:
            fmt = expect_object(text["format"], "text.format")
            kind = expect_choice(fmt.get("type"), "text.format.type", FORMATS)
            if kind == "json_schema":
                expect_str(fmt.get("name"), "text.format.name", identifier=True)
                expect_object(fmt.get("schema"), "text.format.schema")
                if fmt.get("strict") is not None:
                    expect_bool(fmt["strict"], "text.format.strict")
    if body.get("reasoning") is not None:
        reasoning = expect_object(body["reasoning"], "reasoning")
        for name in ("effort", "summary"):
            if reasoning.get(name) is not None:
                expect_str(reasoning[name], f"reasoning.{name}")
    if body.get("metadata") is not None:
        expect_object(body["metadata"], "metadata")


def responses_validate(body: Any) -> dict[str, Any]:
    """Check a Responses request's shape and return it (unchanged). ``model`` and
    ``input`` are required; ``previous_response_id`` and ``store`` are refused by the
    surface, which stores nothing."""
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "The request body must be a JSON object")
    json_checked(body)
    routing_fields_validate(body)
    raw = body.get("input")
    if isinstance(raw, list):
        for i, item in enumerate(raw):
            _check_item(item, f"input[{i}]")
    elif raw is not None and not isinstance(raw, str):
        raise invalid("input", "input must be a string or an array of items")
    _check_tools(body)
    _check_options(body)
    return body
