"""Provider clients by dialect. All outbound HTTP of the gateway lives in this package."""

from gateway.providers.anthropic import AnthropicDialect
from gateway.providers.base import Completion, ProviderError, ProviderNotConfigured
from gateway.providers.dialect import (
    ChunkSource,
    Dialect,
    NativeDialect,
    OperationUnsupported,
    StreamChunk,
)
from gateway.providers.openai import OpenAIDialect
from gateway.providers.replicate import ReplicateDialect
from gateway.providers.sandbox import SandboxDialect

_ANTHROPIC = AnthropicDialect()

DIALECTS: dict[str, Dialect] = {
    "openai": OpenAIDialect(),
    "anthropic": _ANTHROPIC,
    "sandbox": SandboxDialect(),
    "replicate": ReplicateDialect(),
}
# The dialects a surface of the same wire format passes its body to as it came.
NATIVE_DIALECTS: dict[str, NativeDialect] = {"anthropic": _ANTHROPIC}

__all__ = [
    "DIALECTS",
    "NATIVE_DIALECTS",
    "ChunkSource",
    "Completion",
    "Dialect",
    "NativeDialect",
    "OperationUnsupported",
    "ProviderError",
    "ProviderNotConfigured",
    "StreamChunk",
]
