"""The legacy text-completions surface (``POST /v1/completions``), served through the
canonical chat path: the prompt becomes one user message and the answer's message text
becomes ``choices[].text``."""

from __future__ import annotations

from typing import Any

from config.errors import ApiError
from gateway.providers import Completion, StreamChunk
from gateway.records.outcome import Outcome
from gateway.surfaces.chat import ChatStreamEncoder, chat_response, sse
from gateway.surfaces.validation import expect_int, invalid

_LEGACY_ONLY = ("prompt", "suffix", "echo", "best_of", "logprobs")


def completions_to_chat(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "The request body must be a JSON object")
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        if len(prompt) != 1 or not isinstance(prompt[0], str):
            raise invalid(
                "prompt",
                "prompt must be a string or a list of exactly one string; send one "
                "request per prompt",
            )
        prompt = prompt[0]
    if prompt is None or prompt == "":
        raise ApiError(400, "prompt_required", "prompt is required", param="prompt")
    if not isinstance(prompt, str):
        raise invalid("prompt", "prompt must be a string")
    if body.get("echo"):
        raise invalid("echo", "echo is not supported")
    canonical = {k: v for k, v in body.items() if k not in _LEGACY_ONLY}
    logprobs = body.get("logprobs")
    if logprobs is not None and logprobs is not False:
        # the legacy count of top tokens, asked upstream as chat's top_logprobs
        canonical["logprobs"] = True
        canonical["top_logprobs"] = expect_int(logprobs, "logprobs", low=0, high=20)
    canonical["messages"] = [{"role": "user", "content": prompt}]
    return canonical


def completion_response(result: Completion, outcome: Outcome, cost: int) -> dict[str, Any]:
    chat = chat_response(result, outcome, cost)
    choices = []
    for choice in chat.get("choices") or []:
        message = choice.get("message") or {}
        choices.append(
            {
                "text": message.get("content") or "",
                "index": choice.get("index", 0),
                "logprobs": None,
                "finish_reason": choice.get("finish_reason"),
                "native_finish_reason": choice.get("native_finish_reason"),
            }
        )
    return {
        "id": chat["id"],
        "object": "text_completion",
        "created": chat.get("created"),
        "model": chat["model"],
        "provider": chat["provider"],
        "system_fingerprint": chat.get("system_fingerprint"),
        "choices": choices,
        "usage": chat["usage"],
    }


class CompletionStreamEncoder(ChatStreamEncoder):
    object_name = "text_completion"

    def chunk(self, chunk: StreamChunk, outcome: Outcome) -> bytes:
        choices = chunk.canonical.get("choices") or []
        if not choices:
            return b""
        out = []
        for choice in choices:
            delta = choice.get("delta") or {}
            native = choice.get("finish_reason")
            if not delta.get("content") and native is None:
                continue
            item = self._choice({"index": choice.get("index", 0), "finish_reason": native})
            out.append({"text": delta.get("content") or "", "logprobs": None, **item})
        if not out:
            return b""
        return sse({**self._base(outcome), "choices": out})
