"""Unknown /v1 paths answer in the API's error shape, not Django's HTML page."""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from config.errors import ApiError
from gateway.errors import error_response


@csrf_exempt
def api_not_found(request: HttpRequest, rest: str) -> HttpResponse:
    return error_response(ApiError(404, "not_found", f"No such endpoint: /{rest}"))
