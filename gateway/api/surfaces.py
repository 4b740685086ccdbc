"""The billed /v1 endpoints, one view per surface: each converts its request to the
canonical form and the answer back (the conversions live in ``gateway.surfaces``)."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request

from gateway.api.base import SurfaceView
from gateway.pipeline.streaming import StreamEncoder
from gateway.pipeline.upstream import Native
from gateway.providers import Completion
from gateway.records.outcome import Outcome
from gateway.surfaces.chat import ChatStreamEncoder, chat_response
from gateway.surfaces.completions import (
    CompletionStreamEncoder,
    completion_response,
    completions_to_chat,
)
from gateway.surfaces.embeddings import embeddings_response, embeddings_validate
from gateway.surfaces.messages import (
    MessagesStreamEncoder,
    messages_to_canonical,
    native_request,
    native_response,
)
from gateway.surfaces.messages_inbound import response_from_canonical
from gateway.surfaces.responses import (
    ResponsesStreamEncoder,
    response_from_chat,
    responses_to_canonical,
)
from gateway.surfaces.validation import chat_validate


class ChatCompletionsView(SurfaceView):
    surface_name = "chat.completions"

    def canonical(self, raw: Any) -> dict[str, Any]:
        return chat_validate(raw)

    def encoder(self, raw: dict[str, Any]) -> StreamEncoder:
        return ChatStreamEncoder()

    def render(
        self, raw: dict[str, Any], result: Completion, outcome: Outcome, cost: int
    ) -> dict[str, Any]:
        return chat_response(result, outcome, cost)


class CompletionsView(SurfaceView):
    surface_name = "completions"

    def canonical(self, raw: Any) -> dict[str, Any]:
        return chat_validate(completions_to_chat(raw))

    def encoder(self, raw: dict[str, Any]) -> StreamEncoder:
        return CompletionStreamEncoder()

    def render(
        self, raw: dict[str, Any], result: Completion, outcome: Outcome, cost: int
    ) -> dict[str, Any]:
        return completion_response(result, outcome, cost)


class EmbeddingsView(SurfaceView):
    surface_name = "embeddings"
    operation = "embed"

    def canonical(self, raw: Any) -> dict[str, Any]:
        return embeddings_validate(raw)

    def render(
        self, raw: dict[str, Any], result: Completion, outcome: Outcome, cost: int
    ) -> dict[str, Any]:
        return embeddings_response(result, outcome, cost)


class MessagesView(SurfaceView):
    surface = "anthropic"
    surface_name = "messages"

    def canonical(self, raw: Any) -> dict[str, Any]:
        return chat_validate(messages_to_canonical(raw))

    def native(self, raw: dict[str, Any], request: Request) -> Native | None:
        return native_request(raw, request.META)

    def encoder(self, raw: dict[str, Any]) -> StreamEncoder:
        return MessagesStreamEncoder()

    def render(
        self, raw: dict[str, Any], result: Completion, outcome: Outcome, cost: int
    ) -> dict[str, Any]:
        if result.native is not None:
            return native_response(result.native, outcome, cost)
        chat = chat_response(result, outcome, cost)
        return response_from_canonical(chat, usage=outcome.usage, cost=cost)


class ResponsesView(SurfaceView):
    surface_name = "responses"

    def canonical(self, raw: Any) -> dict[str, Any]:
        return chat_validate(responses_to_canonical(raw))

    def encoder(self, raw: dict[str, Any]) -> StreamEncoder:
        return ResponsesStreamEncoder(raw)

    def render(
        self, raw: dict[str, Any], result: Completion, outcome: Outcome, cost: int
    ) -> dict[str, Any]:
        return response_from_chat(raw, chat_response(result, outcome, cost), outcome, cost)
