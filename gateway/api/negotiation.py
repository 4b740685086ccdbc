"""The API answers JSON, or SSE when streaming, whatever ``Accept`` says: clients send
``Accept: text/event-stream`` (or nothing useful) with streaming requests, and DRF's default
negotiation would refuse them with 406 before the view runs."""

from __future__ import annotations

from typing import Any

from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request


class IgnoreAcceptNegotiation(BaseContentNegotiation):
    def select_parser(self, request: Request, parsers: list[Any]) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(
        self, request: Request, renderers: list[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = renderers[0]
        return renderer, renderer.media_type
