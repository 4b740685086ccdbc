"""The OpenAI chat-completions surface: the canonical form itself, so a response is the
upstream body with the gateway's id, the public model id, the provider and the cost."""

from __future__ import annotations

from typing import Any

from gateway.providers import Completion
from gateway.services import Outcome

FINISH_REASONS = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "eos": "stop",
    "length": "length",
    "max_tokens": "length",
    "model_length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "tool_use": "tool_calls",
    "content_filter": "content_filter",
    "refusal": "content_filter",
    "safety": "content_filter",
    "error": "error",
}


def finish_reason_normalise(native: str | None) -> str | None:
    if native is None:
        return None
    return FINISH_REASONS.get(native, "stop")


def usage_body(outcome: Outcome, cost: int) -> dict[str, Any]:
    usage = outcome.usage
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "cost": cost,
    }


def chat_response(result: Completion, outcome: Outcome, cost: int) -> dict[str, Any]:
    body = result.body
    body["id"] = outcome.request_id
    body["object"] = "chat.completion"
    body["model"] = outcome.model
    body["provider"] = outcome.provider
    body.setdefault("system_fingerprint", None)
    for choice in body.get("choices") or []:
        if isinstance(choice, dict):
            native = choice.get("finish_reason")
            choice["native_finish_reason"] = native
            choice["finish_reason"] = finish_reason_normalise(native)
    body["usage"] = usage_body(outcome, cost)
    return body
