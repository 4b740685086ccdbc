"""Token counting without a tokenizer.

``prompt_bound`` is an upper bound used for holds: the UTF-8 byte length of the whole
request body as JSON, less the fields the gateway replaces and the numbers and switches
that steer generation (``REPLACED_FIELDS``, ``SCALAR_FIELDS``), of
the larger of the canonical body and the surface's native body (whichever a route may
receive). Every BPE token is at least one byte, so any text a
provider bills as input, wherever it sits (messages, tools, functions, schemas,
predictions, system blocks), is counted; the JSON punctuation more than covers the few
template tokens a chat format adds per message. Two kinds of parts cost more tokens than
their bytes, and are bounded apart:

- an image given by URL: ``GATEWAY_IMAGE_TOKEN_BOUND`` tokens each (a data URL's bytes
  already exceed its tokens, so this only adds a margin there);
- a document or file (a PDF's pages are billed as text and images, not by its bytes): no
  byte bound holds, so the prompt is bounded by the model's context length
  (``UNBOUNDED``; the caller caps every bound at the context length).

``estimate`` is a best guess (about 4 bytes a token) used only when an upstream reports no
usage; such records are marked ``usage_estimated``.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
from django.conf import settings

UNBOUNDED = 1 << 62  # a prompt only the model's context length bounds

# Fields by which a request can ask for more output than its bound: the gateway sends
# exactly one completion cap upstream, its own, and none of the others.
OUTPUT_CAPS = (
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "max_new_tokens",
    "maxOutputTokens",
    "n",
    "best_of",
)

# Fields the client's value of never reaches an upstream: the gateway's own, the model
# (renamed to the route's) and the completion caps (replaced by the one held for).
# The gateway's own fields: they steer routing and are never sent upstream.
GATEWAY_FIELDS = ("models", "provider", "transforms")
REPLACED_FIELDS = frozenset({*OUTPUT_CAPS, *GATEWAY_FIELDS, "model"})
# Numbers and switches that steer generation and are never read as input, left out only
# while they are a number, a boolean or null: anything else in them is sent upstream and
# counts, like every other field (a field unknown here counts too, so the bound errs on
# the side of holding more).
SCALAR_FIELDS = frozenset(
    {
        "stream",
        "temperature",
        "top_p",
        "top_k",
        "frequency_penalty",
        "presence_penalty",
        "repetition_penalty",
        "min_p",
        "top_a",
        "seed",
        "logprobs",
        "top_logprobs",
        "parallel_tool_calls",
        "store",
    }
)


def _counted(name: str, value: Any) -> bool:
    if name in REPLACED_FIELDS:
        return False
    return name not in SCALAR_FIELDS or not (value is None or isinstance(value, int | float))


_IMAGE = b'"type":"image'  # image_url, image, input_image (orjson writes no spaces)
_DOCUMENTS = (b'"type":"document"', b'"type":"file"', b'"type":"input_file"')


def prompt_bound(*bodies: dict[str, Any] | None) -> int:
    """An upper bound of the input tokens of a request sent as any of ``bodies``."""
    total = 1
    for body in bodies:
        if not body:
            continue
        data = orjson.dumps({k: v for k, v in body.items() if _counted(k, v)})
        if any(kind in data for kind in _DOCUMENTS):
            return UNBOUNDED
        images = data.count(_IMAGE)
        total = max(total, len(data) + images * settings.GATEWAY_IMAGE_TOKEN_BOUND)
    return total


def prediction_bound(*bodies: dict[str, Any] | None) -> int:
    """Tokens a predicted output may add to the completion (rejected prediction tokens are
    billed as completion tokens): its bytes, in whichever body carries it."""
    predictions = [body.get("prediction") for body in bodies if body]
    return max((len(orjson.dumps(p)) for p in predictions if p), default=0)


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
