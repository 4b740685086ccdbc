"""Anthropic Messages <-> canonical (OpenAI chat) conversion, both directions.

The ``anthropic`` dialect uses ``to_anthropic`` / ``from_anthropic`` / ``AnthropicChunker``;
the ``/v1/messages`` surface uses the inverse pair in ``gateway.surfaces.messages_inbound``.
"""

from __future__ import annotations

from typing import Any

import orjson

from billing.pricing import Usage

STOP_TO_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
FINISH_TO_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
    "error": "end_turn",
}
EFFORT_BUDGET = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}


# --- canonical -> Anthropic (the dialect's request) ---------------------------------------


def _image_block(url: str) -> dict[str, Any]:
    if url.startswith("data:") and ";base64," in url:
        head, data = url[5:].split(";base64,", 1)
        return {"type": "image", "source": {"type": "base64", "media_type": head, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _blocks(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            blocks.append({"type": "text", "text": part.get("text", "")})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            blocks.append(_image_block(str(url or "")))
        elif kind in ("image", "document", "tool_use", "tool_result", "thinking"):
            blocks.append(part)
    return blocks


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content or [] if isinstance(p, dict))


def _append(messages: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    """Anthropic wants alternating roles: merge into the previous message of the same role."""
    if not blocks:
        return
    if messages and messages[-1]["role"] == role:
        messages[-1]["content"].extend(blocks)
    else:
        messages.append({"role": role, "content": blocks})


def arguments_of(raw: Any) -> Any:
    if isinstance(raw, dict):
        return raw
    try:
        value = orjson.loads(raw or "{}")
    except orjson.JSONDecodeError:
        return {"_raw": raw}
    return value if isinstance(value, dict) else {"value": value}


def _tool_choice_to_anthropic(choice: Any, parallel: Any) -> dict[str, Any] | None:
    out: dict[str, Any] | None = None
    if choice == "auto":
        out = {"type": "auto"}
    elif choice == "required":
        out = {"type": "any"}
    elif choice == "none":
        out = {"type": "none"}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        out = {"type": "tool", "name": choice["function"].get("name")}
    if parallel is False:
        out = {**(out or {"type": "auto"}), "disable_parallel_tool_use": True}
    return out


def _thinking(body: dict[str, Any], max_tokens: int) -> dict[str, Any] | None:
    reasoning = body.get("reasoning") or {}
    if reasoning.get("enabled") is False or body.get("reasoning_effort") == "none":
        return None
    budget = reasoning.get("max_tokens")
    effort = reasoning.get("effort") or body.get("reasoning_effort")
    if budget is None and effort:
        budget = EFFORT_BUDGET.get(effort)
    if budget is None and reasoning.get("enabled"):
        budget = EFFORT_BUDGET["medium"]
    if not budget:
        return None
    budget = max(1024, min(int(budget), max_tokens - 1))
    return {"type": "enabled", "budget_tokens": budget} if budget < max_tokens else None


def to_anthropic(body: dict[str, Any], *, model: str) -> dict[str, Any]:
    """A canonical chat request as an Anthropic Messages request."""
    system: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for message in body.get("messages") or []:
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(_blocks(message.get("content")))
        elif role == "user":
            _append(messages, "user", _blocks(message.get("content")))
        elif role == "assistant":
            blocks = _blocks(message.get("content"))
            for call in message.get("tool_calls") or []:
                fn = call.get("function") or {}
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call.get("id"),
                        "name": fn.get("name"),
                        "input": arguments_of(fn.get("arguments")),
                    }
                )
            _append(messages, "assistant", blocks)
        elif role in ("tool", "function"):
            _append(
                messages,
                "user",
                [
                    {
                        "type": "tool_result",
                        "tool_use_id": message.get("tool_call_id"),
                        "content": text_of(message.get("content")),
                    }
                ],
            )
    max_tokens = int(body.get("max_completion_tokens") or body.get("max_tokens") or 4096)
    out: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": max_tokens}
    if system:
        out["system"] = system
    if body.get("stop") is not None:
        stop = body["stop"]
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    for name in ("temperature", "top_p", "top_k"):
        if body.get(name) is not None:
            out[name] = body[name]
    if "temperature" in out:
        out["temperature"] = min(float(out["temperature"]), 1.0)
    if body.get("tools"):
        out["tools"] = [
            {
                "name": t["function"]["name"],
                "description": t["function"].get("description", ""),
                "input_schema": t["function"].get("parameters")
                or {"type": "object", "properties": {}},
            }
            for t in body["tools"]
        ]
    choice = _tool_choice_to_anthropic(body.get("tool_choice"), body.get("parallel_tool_calls"))
    if choice and body.get("tools"):
        out["tool_choice"] = choice
    thinking = _thinking(body, max_tokens)
    if thinking:
        out["thinking"] = thinking
        out.pop("temperature", None)
        out.pop("top_k", None)
    if isinstance(body.get("user"), str):
        out["metadata"] = {"user_id": body["user"]}
    if body.get("stream"):
        out["stream"] = True
    return out


# --- Anthropic -> canonical (the dialect's response) --------------------------------------


def usage_from_anthropic(raw: dict[str, Any] | None) -> Usage:
    raw = raw or {}
    uncached = int(raw.get("input_tokens") or 0)
    read = int(raw.get("cache_read_input_tokens") or 0)
    written = int(raw.get("cache_creation_input_tokens") or 0)
    return Usage(
        prompt_tokens=uncached + read + written,
        completion_tokens=int(raw.get("output_tokens") or 0),
        cached_tokens=read,
    )


def openai_usage(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def from_anthropic(data: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic Messages response as a canonical chat completion."""
    text: list[str] = []
    reasoning: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in data.get("content") or []:
        kind = block.get("type")
        if kind == "text":
            text.append(block.get("text", ""))
        elif kind == "thinking":
            reasoning.append(block.get("thinking", ""))
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
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) if text else None}
    if calls:
        message["tool_calls"] = calls
    if reasoning:
        message["reasoning"] = "".join(reasoning)
    usage = usage_from_anthropic(data.get("usage"))
    return {
        "id": data.get("id"),
        "object": "chat.completion",
        "created": 0,
        "model": data.get("model"),
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": data.get("stop_reason"),
            }
        ],
        "usage": openai_usage(usage),
    }


class AnthropicChunker:
    """Anthropic stream events (parsed JSON) -> canonical chat chunks."""

    def __init__(self) -> None:
        self.usage: dict[str, Any] = {}
        self.tool_index = -1
        self.block_is_tool: dict[int, bool] = {}
        self.model = ""

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "object": "chat.completion.chunk",
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    def feed(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """The canonical chunk for one event, or None if it has none (``ping``, a block's
        end, a delta of a kind the canonical form does not carry)."""
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self.model = message.get("model") or ""
            self.usage.update(message.get("usage") or {})
            return self._chunk({"role": "assistant", "content": ""})
        if kind == "content_block_start":
            block = event.get("content_block") or {}
            index = int(event.get("index") or 0)
            if block.get("type") == "tool_use":
                self.tool_index += 1
                self.block_is_tool[index] = True
                return self._chunk(
                    {
                        "tool_calls": [
                            {
                                "index": self.tool_index,
                                "id": block.get("id"),
                                "type": "function",
                                "function": {"name": block.get("name"), "arguments": ""},
                            }
                        ]
                    }
                )
            if block.get("type") == "text" and block.get("text"):
                return self._chunk({"content": block["text"]})
            return None
        if kind == "content_block_delta":
            delta = event.get("delta") or {}
            dtype = delta.get("type")
            if dtype == "text_delta":
                return self._chunk({"content": delta.get("text", "")})
            if dtype == "input_json_delta":
                return self._chunk(
                    {
                        "tool_calls": [
                            {
                                "index": self.tool_index,
                                "function": {"arguments": delta.get("partial_json", "")},
                            }
                        ]
                    }
                )
            if dtype == "thinking_delta":
                return self._chunk({"reasoning": delta.get("thinking", "")})
            return None
        if kind == "message_delta":
            self.usage.update(
                {k: v for k, v in (event.get("usage") or {}).items() if v is not None}
            )
            stop = (event.get("delta") or {}).get("stop_reason")
            return self._chunk({}, stop) if stop else None
        if kind == "message_stop":
            return {
                "object": "chat.completion.chunk",
                "model": self.model,
                "choices": [],
                "usage": openai_usage(usage_from_anthropic(self.usage)),
            }
        return None
