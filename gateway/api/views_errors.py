"""The API's own answers where no API view answers: unknown /v1 paths, and the last-resort
500 (``handler500``), in the API's JSON shape rather than Django's HTML page."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt

from config.errors import ApiError
from gateway.api.errors import error_response, internal_error, surface_of_path


@csrf_exempt
def api_not_found(request: HttpRequest, rest: str) -> HttpResponse:
    err = ApiError(404, "not_found", f"No such endpoint: /{rest}")
    return error_response(err, surface=surface_of_path(request.path_info))


def server_error(request: HttpRequest) -> HttpResponse:
    """Any exception that reached Django's handler: a JSON 500 with the request id on the
    API, the console's own page elsewhere."""
    path = request.path_info
    if path.startswith(tuple(settings.API_PATH_PREFIXES)):
        err = internal_error(getattr(request, "request_id", ""))
        return error_response(err, surface=surface_of_path(path))
    return defaults.server_error(request)
