"""The OpenAI Responses surface (``POST /v1/responses``), stateless: input items become a
canonical chat request; the answer becomes ``output`` items (``message``, ``function_call``)
and, when streaming, the ``response.*`` event sequence."""

from __future__ import annotations

import time
from typing import Any

import orjson

from config.errors import ApiError
from gateway.providers import StreamChunk
from gateway.records.outcome import Outcome
from gateway.surfaces.validation import invalid
from gateway.surfaces.validation.responses import responses_validate

# models, provider and transforms: the gateway's own routing fields, on every surface
_PASS = (
    "temperature",
    "top_p",
    "stream",
    "user",
    "parallel_tool_calls",
    "seed",
    "models",
    "provider",
    "transforms",
)


def _content(parts: Any) -> Any:
    """A message's content (checked by gateway.surfaces.validation.responses) as canonical
    content."""
    if isinstance(parts, str):
        return parts
    out: list[dict[str, Any]] = []
    for part in parts:
        kind = part["type"]
        if kind in ("input_text", "output_text", "text"):
            out.append({"type": "text", "text": part["text"]})
        elif kind == "input_image":
            url = part.get("image_url") or part.get("file_id") or ""
            out.append({"type": "image_url", "image_url": {"url": url}})
        elif kind == "input_file":
            names = ("file_id", "file_data", "filename")
            out.append({"type": "file", "file": {k: part[k] for k in names if k in part}})
    if out and all(p["type"] == "text" for p in out):
        return "".join(p["text"] for p in out)
    return out


def _items_to_messages(items: list[Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise invalid(f"input[{i}]", "each input item must be an object")
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "assistant", "system", "developer"):
                raise invalid(
                    f"input[{i}].role", "role must be user, assistant, system or developer"
                )
            messages.append({"role": role, "content": _content(item.get("content"))})
        elif kind == "function_call":
            call = {
                "id": item.get("call_id"),
                "type": "function",
                "function": {"name": item.get("name"), "arguments": item.get("arguments") or "{}"},
            }
            last = messages[-1] if messages else None
            if last and last["role"] == "assistant" and "tool_calls" in last:
                last["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": item.get("call_id"),
                    "content": output if isinstance(output, str) else orjson.dumps(output).decode(),
                }
            )
        elif kind == "reasoning":
            continue
        else:
            raise invalid(f"input[{i}].type", f"input item type {kind!r} is not supported")
    return messages


def _tools(tools: Any) -> list[dict[str, Any]]:
    out = []
    for i, tool in enumerate(tools or []):
        if not isinstance(tool, dict) or tool.get("type") != "function" or not tool.get("name"):
            raise invalid(f"tools[{i}]", "only function tools with a name are supported")
        fn = {
            "name": tool["name"],
            "description": tool.get("description", ""),
            "parameters": tool.get("parameters") or {"type": "object", "properties": {}},
        }
        if tool.get("strict") is not None:
            fn["strict"] = tool["strict"]
        out.append({"type": "function", "function": fn})
    return out


def responses_to_canonical(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "The request body must be a JSON object")
    if body.get("previous_response_id"):
        raise invalid(
            "previous_response_id",
            "previous_response_id is not supported: this "
            "gateway is stateless; send the whole conversation in input",
        )
    if body.get("store") is True:
        raise invalid(
            "store",
            "store: true is not supported: responses are not stored; send store: false or omit it",
        )
    responses_validate(body)
    if not body.get("model"):
        raise ApiError(400, "model_required", "model is required", param="model")
    raw = body.get("input")
    if raw is None or raw == "" or raw == []:
        raise ApiError(400, "input_required", "input is required", param="input")
    if isinstance(raw, str):
        messages = [{"role": "user", "content": raw}]
    elif isinstance(raw, list):
        messages = _items_to_messages(raw)
    else:
        raise invalid("input", "input must be a string or an array of items")
    if body.get("instructions"):
        messages.insert(0, {"role": "system", "content": body["instructions"]})
    canonical: dict[str, Any] = {"model": body["model"], "messages": messages}
    for name in _PASS:
        if body.get(name) is not None:
            canonical[name] = body[name]
    if body.get("max_output_tokens") is not None:
        canonical["max_tokens"] = body["max_output_tokens"]
    if body.get("tools"):
        canonical["tools"] = _tools(body["tools"])
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "function":
        canonical["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    elif choice is not None:
        canonical["tool_choice"] = choice
    fmt = (body.get("text") or {}).get("format")
    if isinstance(fmt, dict):
        if fmt.get("type") == "json_schema":
            canonical["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt
                },
            }
        elif fmt.get("type") in ("json_object", "text"):
            canonical["response_format"] = {"type": fmt["type"]}
    effort = (body.get("reasoning") or {}).get("effort")
    if effort:
        canonical["reasoning_effort"] = effort
    return canonical


def _usage(outcome: Outcome, cost: int) -> dict[str, Any]:
    u = outcome.usage
    return {
        "input_tokens": u.prompt_tokens,
        "input_tokens_details": {"cached_tokens": u.cached_tokens},
        "output_tokens": u.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "total_tokens": u.total_tokens,
        "cost": cost,
    }


def _envelope(
    request: dict[str, Any], outcome: Outcome, created: int, status: str
) -> dict[str, Any]:
    return {
        "id": outcome.request_id,
        "object": "response",
        "created_at": created,
        "status": status,
        "model": outcome.model,
        "provider": outcome.provider,
        "output": [],
        "error": None,
        "incomplete_details": None,
        "instructions": request.get("instructions"),
        "metadata": request.get("metadata") or {},
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "temperature": request.get("temperature"),
        "top_p": request.get("top_p"),
        "tool_choice": request.get("tool_choice", "auto"),
        "tools": request.get("tools") or [],
        "text": request.get("text") or {"format": {"type": "text"}},
        "max_output_tokens": request.get("max_output_tokens"),
        "store": False,
        "usage": None,
    }


def _message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    return {
        "type": "message",
        "id": item_id,
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def _call_item(item_id: str, call: dict[str, Any], status: str = "completed") -> dict[str, Any]:
    fn = call.get("function") or {}
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call.get("id"),
        "name": fn.get("name"),
        "arguments": fn.get("arguments") or "",
        "status": status,
    }


def response_from_chat(
    request: dict[str, Any], chat: dict[str, Any], outcome: Outcome, cost: int
) -> dict[str, Any]:
    choice = (chat.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    finish = choice.get("finish_reason")
    out = _envelope(
        request, outcome, int(time.time()), "incomplete" if finish == "length" else "completed"
    )
    if finish == "length":
        out["incomplete_details"] = {"reason": "max_output_tokens"}
    if message.get("content"):
        out["output"].append(
            _message_item(f"msg_{outcome.request_id[4:]}", str(message["content"]))
        )
    for n, call in enumerate(message.get("tool_calls") or []):
        out["output"].append(_call_item(f"fc_{outcome.request_id[4:]}_{n}", call))
    out["usage"] = _usage(outcome, cost)
    return out


class ResponsesStreamEncoder:
    """Canonical chunks -> the Responses API's ``response.*`` SSE events, ending with one
    terminal event: ``response.completed``, ``response.incomplete`` or ``response.failed``."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.request = request
        self.created = int(time.time())
        self.failed = False  # response.failed went out: it is the stream's last event
        self.seq = 0
        self.items: list[dict[str, Any]] = []
        self.text_index: int | None = None
        self.calls: dict[int, int] = {}  # tool call index -> output index
        self.finish: str | None = None

    def _event(self, kind: str, data: dict[str, Any]) -> bytes:
        payload = {"type": kind, "sequence_number": self.seq, **data}
        self.seq += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"

    def begin(self, outcome: Outcome) -> bytes:
        env = _envelope(self.request, outcome, self.created, "in_progress")
        return self._event("response.created", {"response": env}) + self._event(
            "response.in_progress", {"response": env}
        )

    def _text(self, outcome: Outcome, piece: str) -> bytes:
        out = b""
        if self.text_index is None:
            self.text_index = len(self.items)
            item = _message_item(f"msg_{outcome.request_id[4:]}", "", "in_progress")
            item["content"] = []
            self.items.append(item)
            out += self._event(
                "response.output_item.added", {"output_index": self.text_index, "item": item}
            )
            out += self._event(
                "response.content_part.added",
                {
                    "item_id": item["id"],
                    "output_index": self.text_index,
                    "content_index": 0,
                    "part": {"type": "output_text", "text": "", "annotations": []},
                },
            )
            item["content"] = [{"type": "output_text", "text": "", "annotations": []}]
        item = self.items[self.text_index]
        item["content"][0]["text"] += piece
        return out + self._event(
            "response.output_text.delta",
            {
                "item_id": item["id"],
                "output_index": self.text_index,
                "content_index": 0,
                "delta": piece,
            },
        )

    def _call(self, outcome: Outcome, call: dict[str, Any]) -> bytes:
        out = b""
        index = int(call.get("index") or 0)
        fn = call.get("function") or {}
        if index not in self.calls:
            self.calls[index] = len(self.items)
            item = _call_item(f"fc_{outcome.request_id[4:]}_{index}", call, "in_progress")
            item["arguments"] = ""
            self.items.append(item)
            out += self._event(
                "response.output_item.added",
                {"output_index": self.calls[index], "item": dict(item)},
            )
        position = self.calls[index]
        item = self.items[position]
        if fn.get("arguments"):
            item["arguments"] += fn["arguments"]
            out += self._event(
                "response.function_call_arguments.delta",
                {"item_id": item["id"], "output_index": position, "delta": fn["arguments"]},
            )
        return out

    def chunk(self, chunk: StreamChunk, outcome: Outcome) -> bytes:
        out = b""
        for choice in chunk.canonical.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                out += self._text(outcome, delta["content"])
            for call in delta.get("tool_calls") or []:
                out += self._call(outcome, call)
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]
        return out

    def _close_items(self) -> bytes:
        out = b""
        for position, item in enumerate(self.items):
            if item["status"] != "in_progress":
                continue
            item["status"] = "completed"
            if item["type"] == "message":
                part = item["content"][0]
                out += self._event(
                    "response.output_text.done",
                    {
                        "item_id": item["id"],
                        "output_index": position,
                        "content_index": 0,
                        "text": part["text"],
                    },
                )
                out += self._event(
                    "response.content_part.done",
                    {
                        "item_id": item["id"],
                        "output_index": position,
                        "content_index": 0,
                        "part": part,
                    },
                )
            else:
                out += self._event(
                    "response.function_call_arguments.done",
                    {
                        "item_id": item["id"],
                        "output_index": position,
                        "arguments": item["arguments"],
                    },
                )
            out += self._event(
                "response.output_item.done", {"output_index": position, "item": item}
            )
        return out

    def error(self, err: ApiError, outcome: Outcome) -> bytes:
        env = _envelope(self.request, outcome, self.created, "failed")
        env["error"] = {"code": err.code, "message": err.message}
        env["output"] = self.items
        self.failed = True
        return self._close_items() + self._event("response.failed", {"response": env})

    def end(self, outcome: Outcome, cost: int, tally: object) -> bytes:
        if self.failed:
            return b""
        out = self._close_items()
        status = "incomplete" if self.finish in ("length", "max_tokens") else "completed"
        env = _envelope(self.request, outcome, self.created, status)
        if status == "incomplete":
            env["incomplete_details"] = {"reason": "max_output_tokens"}
        env["output"] = self.items
        env["usage"] = _usage(outcome, cost)
        kind = "response.incomplete" if status == "incomplete" else "response.completed"
        return out + self._event(kind, {"response": env})
