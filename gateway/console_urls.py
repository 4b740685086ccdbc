"""Console pages (sessions and CSRF), apart from the /v1 API in ``gateway.urls``."""

from django.urls import path

from gateway import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
]
