"""The two ways to present a key (accounts.authentication.key_from_headers), as the
security schemes ``bearerAuth`` and ``apiKeyAuth``: either one authenticates."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

BEARER = "bearerAuth"
API_KEY = "apiKeyAuth"


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    match_subclasses = True  # gateway.api.auth's GatewayKeyAuthentication, BilledKeyAuthentication
    name = [BEARER, API_KEY]
    priority = 1

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[str]]]:
        """Two requirements, so either scheme alone is enough (one with both names would
        ask for both)."""
        return [{BEARER: []}, {API_KEY: []}]

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, Any]]:
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "description": "Authorization: Bearer sk-… (an inference or a management key)",
            },
            {
                "type": "apiKey",
                "in": "header",
                "name": "x-api-key",
                "description": "x-api-key: sk-… (as Anthropic's clients send it)",
            },
        ]
