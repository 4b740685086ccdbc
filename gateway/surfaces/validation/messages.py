"""The shape of an Anthropic Messages request (``/v1/messages`` and ``count_tokens``).

Checked before its conversion to the canonical form, so the conversion and the native
pass-through both see only well-formed values: content blocks are objects with a string
``type``, and the known types carry their fields with the right types. A block type this
gateway does not know passes (it reaches an Anthropic route as sent, and is left out of a
translation).
"""

from __future__ import annotations

from typing import Any

from config.errors import ApiError
from gateway.surfaces.validation.routing_fields import routing_fields_validate
from gateway.surfaces.validation.shapes import (
    expect_bool,
    expect_choice,
    expect_int,
    expect_list,
    expect_number,
    expect_object,
    expect_str,
    expect_strings,
    invalid,
    json_checked,
)

_IMAGE_SOURCES = ("base64", "url", "file")
_TOOL_CHOICES = ("auto", "any", "tool", "none")


def _check_source(source: Any, param: str) -> None:
    expect_object(source, param)
    kind = expect_choice(source.get("type"), f"{param}.type", _IMAGE_SOURCES)
    fields = {"base64": ("media_type", "data"), "url": ("url",), "file": ("file_id",)}[kind]
    for name in fields:
        expect_str(source.get(name), f"{param}.{name}")


def block_check(block: Any, param: str) -> None:
    """One content block of a message (or of a tool result, or of ``system``)."""
    expect_object(block, param)
    kind = expect_str(block.get("type"), f"{param}.type")
    if kind == "text":
        expect_str(block.get("text"), f"{param}.text")
    elif kind == "image":
        _check_source(block.get("source"), f"{param}.source")
    elif kind == "document":
        expect_object(block.get("source"), f"{param}.source")
    elif kind == "tool_use":
        expect_str(block.get("id"), f"{param}.id", identifier=True)
        expect_str(block.get("name"), f"{param}.name", identifier=True)
        if block.get("input") is not None:
            expect_object(block["input"], f"{param}.input")
    elif kind == "tool_result":
        expect_str(block.get("tool_use_id"), f"{param}.tool_use_id", identifier=True)
        blocks_check(block.get("content"), f"{param}.content")
        if block.get("is_error") is not None:
            expect_bool(block["is_error"], f"{param}.is_error")
    elif kind == "thinking":
        expect_str(block.get("thinking"), f"{param}.thinking")


def blocks_check(content: Any, param: str, *, required: bool = False) -> None:
    """Content: a string or an array of blocks (absent only when not ``required``)."""
    if content is None and not required:
        return
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise invalid(param, f"{param} must be a string or an array of content blocks")
    for j, block in enumerate(content):
        block_check(block, f"{param}[{j}]")


def _check_tools(body: dict[str, Any]) -> None:
    if body.get("tools") is not None:
        for i, tool in enumerate(expect_list(body["tools"], "tools")):
            expect_object(tool, f"tools[{i}]")
            expect_str(tool.get("name"), f"tools[{i}].name", identifier=True, nonempty=True)
            if tool.get("description") is not None:
                expect_str(tool["description"], f"tools[{i}].description")
            if tool.get("input_schema") is not None:
                expect_object(tool["input_schema"], f"tools[{i}].input_schema")
    if body.get("tool_choice") is not None:
        choice = expect_object(body["tool_choice"], "tool_choice")
        kind = expect_choice(choice.get("type"), "tool_choice.type", _TOOL_CHOICES)
        if kind == "tool":
            expect_str(choice.get("name"), "tool_choice.name", identifier=True)
        parallel = choice.get("disable_parallel_tool_use")
        if parallel is not None:
            expect_bool(parallel, "tool_choice.disable_parallel_tool_use")


def _check_options(body: dict[str, Any]) -> None:
    for name in ("max_tokens", "max_completion_tokens"):
        if body.get(name) is not None:
            expect_int(body[name], name, low=1)
    if body.get("temperature") is not None:
        expect_number(body["temperature"], "temperature", low=0, high=1)
    if body.get("top_p") is not None:
        expect_number(body["top_p"], "top_p", low=0, high=1)
    if body.get("top_k") is not None:
        expect_int(body["top_k"], "top_k", low=1)
    if body.get("stream") is not None:
        expect_bool(body["stream"], "stream")
    if body.get("stop_sequences") is not None:
        expect_strings(body["stop_sequences"], "stop_sequences")
    if body.get("thinking") is not None:
        thinking = expect_object(body["thinking"], "thinking")
        kind = expect_str(thinking.get("type"), "thinking.type")
        if kind == "enabled":
            expect_int(thinking.get("budget_tokens"), "thinking.budget_tokens", low=1)
    if body.get("metadata") is not None:
        metadata = expect_object(body["metadata"], "metadata")
        if metadata.get("user_id") is not None:
            expect_str(metadata["user_id"], "metadata.user_id", identifier=True)


def messages_validate(body: Any) -> dict[str, Any]:
    """Check an Anthropic Messages request and return it (unchanged)."""
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "The request body must be a JSON object")
    json_checked(body)
    if not body.get("model"):
        raise ApiError(400, "model_required", "model is required", param="model")
    routing_fields_validate(body)
    messages = body.get("messages")
    if not messages:
        raise ApiError(400, "messages_required", "messages is required", param="messages")
    if not isinstance(messages, list):
        raise invalid("messages", "messages must be an array")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise invalid(f"messages[{i}].role", "each message's role must be user or assistant")
        blocks_check(message.get("content"), f"messages[{i}].content", required=True)
    if body.get("max_tokens") is None:
        raise ApiError(400, "invalid_parameter", "max_tokens is required", param="max_tokens")
    if body.get("system") is not None:
        system = body["system"]
        if not isinstance(system, str):
            for j, block in enumerate(expect_list(system, "system")):
                block_check(block, f"system[{j}]")
                expect_choice(block.get("type"), f"system[{j}].type", ("text",))
    _check_options(body)
    _check_tools(body)
    return body
