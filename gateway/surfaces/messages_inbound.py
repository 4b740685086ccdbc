"""Anthropic Messages -> canonical and back, for the ``/v1/messages`` surface (the inbound
direction; ``gateway.providers.anthropic_format`` holds the outbound one, used by the dialect)."""

from __future__ import annotations

from typing import Any

import orjson

from billing.pricing import Usage
from gateway.providers.anthropic_format import FINISH_TO_STOP, STOP_TO_FINISH, arguments_of, text_of


def _canonical_content(blocks: Any) -> tuple[Any, list[dict[str, Any]], list[dict[str, Any]]]:
    """(content for a canonical message, tool_calls, tool messages) of Anthropic blocks."""
    if isinstance(blocks, str):
        return blocks, [], []
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for block in blocks or []:
        kind = block.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": block.get("text", "")})
        elif kind == "image":
            source = block.get("source") or {}
            url = (
                f"data:{source.get('media_type')};base64,{source.get('data')}"
                if source.get("type") == "base64"
                else source.get("url", "")
            )
            parts.append({"type": "image_url", "image_url": {"url": url}})
        elif kind == "tool_use":
            calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {
                        "name": block.get("name"),
                        "arguments": orjson.dumps(block.get("input") or {}).decode(),
                    },
                }
            )
        elif kind == "tool_result":
            results.append(
                {
                    "role": "tool",
                    "tool_call_id": block.get("tool_use_id"),
                    "content": text_of(block.get("content")),
                }
            )
    if parts and all(p["type"] == "text" for p in parts):
        return "".join(p["text"] for p in parts), calls, results
    return parts or None, calls, results


def request_to_canonical(body: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic Messages request as a canonical chat request (validated by the caller)."""
    messages: list[dict[str, Any]] = []
    system = body.get("system")
    if system:
        messages.append({"role": "system", "content": text_of(system)})
    for message in body.get("messages") or []:
        content, calls, results = _canonical_content(message.get("content"))
        messages.extend(results)
        if message.get("role") == "assistant":
            out: dict[str, Any] = {"role": "assistant", "content": content}
            if calls:
                out["tool_calls"] = calls
            messages.append(out)
        elif content not in (None, "", []):
            messages.append({"role": message.get("role"), "content": content})
    canonical: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    # models, provider and transforms are the gateway's own routing fields, on every surface
    for name in (
        "max_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stream",
        "models",
        "provider",
        "transforms",
    ):
        if body.get(name) is not None:
            canonical[name] = body[name]
    if body.get("stop_sequences"):
        canonical["stop"] = body["stop_sequences"]
    if body.get("tools"):
        canonical["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.get("name"),
                    "description": t.get("description", ""),
                    "parameters": t.get("input_schema") or {"type": "object", "properties": {}},
                },
            }
            for t in body["tools"]
        ]
    choice = body.get("tool_choice") or {}
    mapped = {"auto": "auto", "any": "required", "none": "none"}.get(choice.get("type"))
    if choice.get("type") == "tool":
        canonical["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    elif mapped:
        canonical["tool_choice"] = mapped
    if choice.get("disable_parallel_tool_use"):
        canonical["parallel_tool_calls"] = False
    thinking = body.get("thinking") or {}
    if thinking.get("type") == "enabled":
        canonical["reasoning"] = {"max_tokens": thinking.get("budget_tokens")}
    user = (body.get("metadata") or {}).get("user_id")
    if user:
        canonical["user"] = user
    return canonical


def response_from_canonical(body: dict[str, Any], *, usage: Usage, cost: int) -> dict[str, Any]:
    """A canonical chat completion as an Anthropic Messages response."""
    choice = (body.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    text = message.get("content")
    if isinstance(text, list):
        text = text_of(text)
    if text:
        content.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or []:
        fn = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id"),
                "name": fn.get("name"),
                "input": arguments_of(fn.get("arguments")),
            }
        )
    native = choice.get("native_finish_reason")
    stop = (
        native
        if native in STOP_TO_FINISH
        else FINISH_TO_STOP.get(choice.get("finish_reason") or "stop", "end_turn")
    )
    return {
        "id": body.get("id"),
        "type": "message",
        "role": "assistant",
        "model": body.get("model"),
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": anthropic_usage(usage, cost),
        "provider": body.get("provider"),
    }


def anthropic_usage(usage: Usage, cost: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "input_tokens": usage.prompt_tokens - usage.cached_tokens,
        "output_tokens": usage.completion_tokens,
        "cache_read_input_tokens": usage.cached_tokens,
        "cache_creation_input_tokens": 0,
    }
    if cost is not None:
        out["cost"] = cost
    return out
