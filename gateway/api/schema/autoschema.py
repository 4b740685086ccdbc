"""The schema class of every view (REST_FRAMEWORK DEFAULT_SCHEMA_CLASS): drf-spectacular's,
except that a view's docstring is not its public description. The docstrings here are
written for the code's readers (its invariants, its queries); an operation's description
comes from its schema (``extend_schema(description=...)``) or is empty."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema


class GatewayAutoSchema(AutoSchema):
    def get_description(self) -> str:
        return ""
