"""``/favicon.ico``: browsers ask for it at the site's root before (or without) reading a
page's ``<link rel="icon">``; it redirects to the one icon, ``static/favicon.svg``, so the
answer is never a 404 and the icon lives once, under the static files' long cache."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponseRedirect
from django.templatetags.static import static
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe


@require_safe
@cache_control(public=True, max_age=86_400)
def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """A temporary redirect (the static name may change with a release), cached a day."""
    return HttpResponseRedirect(static("favicon.svg"))
