"""The machine-readable entry points (API chain) and the console's API reference page."""

from django.urls import path

from gateway.docs import views

urlpatterns = [
    path("openapi.json", views.openapi_json, name="openapi"),
    path("api-docs/index.md", views.api_docs_markdown, name="api-docs"),
    path("llms.txt", views.llms, name="llms-txt"),
    path("auth.md", views.auth, name="auth-md"),
    path(".well-known/api-catalog", views.api_catalog, name="api-catalog"),
    path("docs/api/", views.reference_page, name="api-reference"),
]
