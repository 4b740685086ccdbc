from django.contrib import admin
from django.urls import include, path

from config.favicon import favicon
from gateway.api.views_errors import api_not_found
from gateway.ops import views as ops

handler500 = "gateway.api.views_errors.server_error"

urlpatterns = [
    path("v1/", include("gateway.urls")),
    path("api/v1/", include("gateway.urls")),
    path("admin/", admin.site.urls),
    path("favicon.ico", favicon, name="favicon"),
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics, name="metrics"),
    path("", include("gateway.docs.urls")),  # /openapi.json, /llms.txt, ... (gateway/docs)
    path("", include("gateway.console.urls")),
    path("", include("accounts.urls")),
    path("", include("billing.urls")),
    path("", include("catalog.urls")),
    path("v1/<path:rest>", api_not_found),
    path("api/v1/<path:rest>", api_not_found),
]
