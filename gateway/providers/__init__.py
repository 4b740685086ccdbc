"""Provider clients by dialect. All outbound HTTP of the gateway lives in this package."""

from gateway.providers.anthropic import AnthropicDialect
from gateway.providers.base import (
    Completion,
    Dialect,
    ProviderError,
    ProviderNotConfigured,
)
from gateway.providers.openai import OpenAIDialect
from gateway.providers.sandbox import SandboxDialect

DIALECTS: dict[str, Dialect] = {
    "openai": OpenAIDialect(),
    "anthropic": AnthropicDialect(),
    "sandbox": SandboxDialect(),
}

__all__ = ["DIALECTS", "Completion", "Dialect", "ProviderError", "ProviderNotConfigured"]
