"""The /v1 URLconf (also mounted at /api/v1): one view per endpoint, from ``gateway.api``."""

from django.urls import path

from gateway.api import (
    catalog_api,
    credits,
    estimate,
    files,
    info,
    keys,
    media,
    pricing,
    surfaces,
)
from gateway.api.views_errors import api_not_found

urlpatterns = [
    path("chat/completions", surfaces.ChatCompletionsView.as_view(), name="chat-completions"),
    path("completions", surfaces.CompletionsView.as_view(), name="completions"),
    path("embeddings", surfaces.EmbeddingsView.as_view(), name="embeddings"),
    path("generation", info.GenerationView.as_view(), name="generation"),
    path("messages", surfaces.MessagesView.as_view(), name="messages"),
    path("messages/count_tokens", info.CountTokensView.as_view(), name="messages-count-tokens"),
    path("responses", surfaces.ResponsesView.as_view(), name="responses"),
    path("models", info.ModelsView.as_view(), name="models"),
    # before models/<path:model_id>, which would take "catalog" for a model id
    path("models/catalog", catalog_api.ModelsCatalogView.as_view(), name="models-catalog"),
    path("models/<path:model_id>", info.ModelView.as_view(), name="model"),
    path("pricing", pricing.PricingView.as_view(), name="pricing"),
    path("key", info.KeyView.as_view(), name="key"),
    path("keys", keys.KeysView.as_view(), name="keys"),
    path("keys/<str:key_hash>", keys.KeyDetailView.as_view(), name="key-detail"),
    path("credits", credits.CreditsView.as_view(), name="api-credits"),
    path("credits/packs", credits.PacksView.as_view(), name="api-credits-packs"),
    path("credits/estimate", estimate.EstimateView.as_view(), name="api-credits-estimate"),
    path("files/<str:token>", files.file_get, name="api-file"),
    path("images/generations", media.ImagesView.as_view(), name="images-generations"),
    path("videos", media.VideosView.as_view(), name="videos"),
    path("music/generations", media.MusicView.as_view(), name="music-generations"),
    path("tasks/<str:task_id>", media.TaskView.as_view(), name="task"),
    path("tasks/<str:task_id>/cancel", media.TaskCancelView.as_view(), name="task-cancel"),
    # The bare prefix (/v1/) is unknown too, and answers in the API's shape.
    path("", api_not_found, {"rest": ""}),
]
