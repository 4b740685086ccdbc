"""Console pages (sessions and CSRF), apart from the /v1 API in ``gateway.urls``."""

from django.urls import include, path

from gateway.console import views_dashboard, views_tasks, views_usage

urlpatterns = [
    path("", views_dashboard.dashboard, name="dashboard"),
    path("usage/", views_usage.usage, name="usage"),
    path("usage/export.csv", views_usage.usage_export, name="usage-export"),
    path("usage/chart/<str:kind>.svg", views_usage.usage_chart, name="usage-chart"),
    path("usage/requests/<str:request_id>/", views_usage.generation_detail, name="generation"),
    path("usage/tasks/<str:public_id>/", views_tasks.task_detail, name="task"),
    path("", include("gateway.self_route.urls")),  # /providers/ (users' own providers)
]
