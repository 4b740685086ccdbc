"""The fake upstream's ``POST /v1/embeddings``: deterministic vectors, 3 prompt tokens per
input item, ``dimensions`` (default 8) and ``encoding_format: base64`` (little-endian
float32, as OpenAI sends it) honoured."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from typing import Any

DEFAULT_DIMENSIONS = 8
TOKENS_PER_INPUT = 3


def embedding_inputs(body: dict[str, Any]) -> list[Any]:
    """One item per embedding: a string, a token array, or each element of a list."""
    value = body.get("input")
    if isinstance(value, list) and value and all(isinstance(t, int) for t in value):
        return [value]
    return value if isinstance(value, list) else [value]


def embedding_vector(item: Any, dimensions: int) -> list[float]:
    """Values in [-1, 1], exactly representable in float32, derived from the item."""
    seed = hashlib.sha256(json.dumps(item).encode()).digest()
    while len(seed) < dimensions:
        seed += hashlib.sha256(seed).digest()
    return [(b - 128) / 128 for b in seed[:dimensions]]


def embeddings_reply(body: dict[str, Any]) -> dict[str, Any]:
    items = embedding_inputs(body)
    dimensions = int(body.get("dimensions") or DEFAULT_DIMENSIONS)
    data = []
    for i, item in enumerate(items):
        vector = embedding_vector(item, dimensions)
        encoded: Any = vector
        if body.get("encoding_format") == "base64":
            encoded = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
        data.append({"object": "embedding", "index": i, "embedding": encoded})
    prompt = TOKENS_PER_INPUT * len(items)
    return {
        "object": "list",
        "data": data,
        "model": body.get("model"),
        "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
    }
