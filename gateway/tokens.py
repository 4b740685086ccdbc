"""Token counting without a tokenizer.

``prompt_bound`` is an upper bound used for holds: the UTF-8 byte length of the messages
(and tools) as JSON. Every BPE token is at least one byte, and the JSON punctuation more than
covers the few template tokens a chat format adds per message.
``estimate`` is a best guess (about 4 bytes a token) used only when an upstream reports no
usage; such records are marked ``usage_estimated``.
"""

from __future__ import annotations

import math
from typing import Any

import orjson


def prompt_bound(body: dict[str, Any], *, fields: tuple[str, ...] = ("messages", "tools")) -> int:
    total = 0
    for name in fields:
        value = body.get(name)
        if value:
            total += len(orjson.dumps(value))
    return max(total, 1)


def estimate(text: str) -> int:
    if not text:
        return 0
    return max(1, math.ceil(len(text.encode()) / 4))


def message_text(messages: list[dict[str, Any]]) -> str:
    parts: list[str] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "\n".join(parts)
