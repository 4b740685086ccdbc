from django.urls import path

from gateway import apis

urlpatterns = [
    path("chat/completions", apis.ChatCompletionsView.as_view(), name="chat-completions"),
    path("models", apis.ModelsView.as_view(), name="models"),
    path("key", apis.KeyView.as_view(), name="key"),
]
