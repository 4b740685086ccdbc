from django.urls import path

from gateway import apis, apis_credits
from gateway.views_errors import api_not_found

urlpatterns = [
    path("chat/completions", apis.ChatCompletionsView.as_view(), name="chat-completions"),
    path("completions", apis.CompletionsView.as_view(), name="completions"),
    path("embeddings", apis.EmbeddingsView.as_view(), name="embeddings"),
    path("generation", apis.GenerationView.as_view(), name="generation"),
    path("messages", apis.MessagesView.as_view(), name="messages"),
    path("messages/count_tokens", apis.CountTokensView.as_view(), name="messages-count-tokens"),
    path("responses", apis.ResponsesView.as_view(), name="responses"),
    path("models", apis.ModelsView.as_view(), name="models"),
    path("models/<path:model_id>", apis.ModelView.as_view(), name="model"),
    path("key", apis.KeyView.as_view(), name="key"),
    path("credits", apis_credits.CreditsView.as_view(), name="api-credits"),
    path("credits/packs", apis_credits.PacksView.as_view(), name="api-credits-packs"),
    # The bare prefix (/v1/) is unknown too, and answers in the API's shape.
    path("", api_not_found, {"rest": ""}),
]
