"""``GET /v1/files/{token}`` is a plain Django function (gateway.api.files.file_get), which
drf-spectacular does not walk: this stand-in view carries its schema, and
``extra_endpoints`` adds it to the document's endpoints."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from gateway.api.schema.components import error_response


class FileView(APIView):
    """Never routed: only its schema is read."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="file_get",
        summary="Download a media task's output file",
        description=(
            "An output file of a media task (GET /v1/tasks/{id} lists their URLs). The token "
            "is the capability: no key is needed. Range requests (206, 416) and If-None-Match "
            "(304) are answered; HEAD gives the headers only."
        ),
        tags=["files"],
        parameters=[
            OpenApiParameter("token", OpenApiTypes.STR, OpenApiParameter.PATH),
            OpenApiParameter("Range", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False),
        ],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The file (its own content type)"
            ),
            (206, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The requested byte range"
            ),
            304: OpenApiResponse(description="Not modified (If-None-Match)"),
            404: error_response(404),
            405: error_response(405),
            416: OpenApiResponse(description="Range not satisfiable (Content-Range: bytes */size)"),
        },
    )
    def get(self, request: Any, token: str) -> None:
        raise NotImplementedError


def extra_endpoints() -> list[tuple[Any, ...]]:
    """(path, regex, method, view) as drf-spectacular's enumerator yields them."""
    view = FileView.as_view()
    return [("/v1/files/{token}", r"^v1/files/(?P<token>[^/]+)$", "GET", view)]
