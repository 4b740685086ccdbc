"""The console's time zone: every page renders times in the signed-in user's zone.

Only in ``MIDDLEWARE`` (the console and admin): the API's requests go through
``API_MIDDLEWARE`` (config/handler.py), so ``/v1`` never loads the user for it.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from accounts.models import time_zones


class UserTimeZoneMiddleware:
    """Activates ``user.time_zone`` for the request (UTC for anonymous users or a name this
    machine no longer knows), and deactivates it afterwards."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        name = getattr(user, "time_zone", "") if user is not None else ""
        if name and name != "UTC" and name in time_zones():
            timezone.activate(zoneinfo.ZoneInfo(name))
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
