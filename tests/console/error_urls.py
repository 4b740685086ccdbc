"""The project's URLs plus one console page that fails, for the error page tests."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from config.urls import handler500
from config.urls import urlpatterns as project_urlpatterns

__all__ = ["handler500", "urlpatterns"]


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a failure with a secret in it: postgres://user:hunter2@db/prod")


urlpatterns = [path("boom/", boom), *project_urlpatterns]
