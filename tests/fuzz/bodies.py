"""Valid request bodies of each POST endpoint, the fuzz generator's starting points: a
short and a rich body (content parts, tool calls, tools, sampling options, routing fields)
and a streamed one, for a model behind each fake upstream."""

from __future__ import annotations

from typing import Any


def base_bodies(gpt: str, claude: str, embed: str) -> dict[str, list[dict[str, Any]]]:
    """Valid bodies of each POST endpoint (its path after the prefix)."""
    hi = [{"role": "user", "content": "hello there"}]
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    chat: list[dict[str, Any]] = []
    for model in (gpt, claude):
        chat += [
            {"model": model, "messages": hi, "max_tokens": 16},
            {
                "model": model,
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "look"},
                            {"type": "image_url", "image_url": {"url": "https://e.com/a.png"}},
                        ],
                    },
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": "{}"},
                            }
                        ],
                    },
                    {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
                ],
                "tools": [tool],
                "tool_choice": "auto",
                "temperature": 0.5,
                "top_p": 0.9,
                "stop": ["zz"],
                "user": "u-1",
                "reasoning": {"effort": "low"},
            },
            {"model": model, "messages": hi, "stream": True, "max_tokens": 8},
            {
                "model": model,
                "models": [gpt, claude],
                "messages": hi,
                "provider": {
                    "order": ["fake"],
                    "sort": "price",
                    "allow_fallbacks": True,
                    "max_price": {"prompt": 100, "completion": "100"},
                },
                "max_completion_tokens": 12,
            },
        ]
    messages: list[dict[str, Any]] = []
    for model in (claude, gpt):
        messages += [
            {"model": model, "max_tokens": 16, "messages": hi},
            {
                "model": model,
                "max_tokens": 32,
                "system": [{"type": "text", "text": "be brief"}],
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "text",
                                "text": "look",
                                "cache_control": {"type": "ephemeral"},
                            },
                            {"type": "image", "source": {"type": "url", "url": "https://e.com/a"}},
                        ],
                    },
                    {
                        "role": "assistant",
                        "content": [
                            {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}}
                        ],
                    },
                    {
                        "role": "user",
                        "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}],
                    },
                ],
                "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
                "tool_choice": {"type": "auto"},
                "metadata": {"user_id": "u-1"},
                "temperature": 0.5,
                "stop_sequences": ["zz"],
            },
            {"model": model, "max_tokens": 8, "messages": hi, "stream": True},
        ]
    responses: list[dict[str, Any]] = []
    for model in (gpt, claude):
        responses += [
            {"model": model, "input": "hello there", "max_output_tokens": 16},
            {
                "model": model,
                "instructions": "be brief",
                "input": [
                    {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
                    {"type": "function_call", "call_id": "c1", "name": "w", "arguments": "{}"},
                    {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
                ],
                "tools": [{"type": "function", "name": "w", "parameters": {"type": "object"}}],
                "tool_choice": "auto",
                "text": {"format": {"type": "json_object"}},
                "reasoning": {"effort": "low"},
                "metadata": {"k": "v"},
            },
            {"model": model, "input": "stream it", "stream": True},
        ]
    return {
        "/chat/completions": chat,
        "/completions": [
            {"model": gpt, "prompt": "once upon", "max_tokens": 8},
            {"model": claude, "prompt": ["once upon"], "stream": True, "logprobs": 2},
        ],
        "/responses": responses,
        "/messages": messages,
        "/messages/count_tokens": [{k: v for k, v in m.items() if k != "stream"} for m in messages],
        "/embeddings": [
            {"model": embed, "input": "hello"},
            {"model": embed, "input": ["a", "b"], "dimensions": 4, "encoding_format": "base64"},
            {"model": embed, "input": [[1, 2], [3]]},
        ],
    }
