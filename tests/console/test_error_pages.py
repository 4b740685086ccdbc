"""The console's 404 and 500 are the project's own plain pages: no URL patterns, settings or
traceback (Django's debug pages showed all three)."""

from __future__ import annotations

import pytest
from django.test import Client

LEAKS = ("Traceback", "urlpatterns", "URLconf", "DATABASE", "SECRET_KEY", "hunter2", "admin/")


@pytest.mark.django_db
def test_console_404_is_the_plain_page() -> None:
    resp = Client().get("/no-such-page/")
    html = resp.content.decode()
    assert resp.status_code == 404
    assert "<h1>Page not found</h1>" in html and 'href="/">dashboard</a>' in html
    assert not [leak for leak in LEAKS if leak in html]
    assert len(html) < 3_000


@pytest.mark.django_db
@pytest.mark.urls("tests.console.error_urls")
def test_console_500_is_the_plain_page() -> None:
    # when a console page fails
    resp = Client(raise_request_exception=False).get("/boom/")
    html = resp.content.decode()
    # then the visitor sees the project's page and nothing of the failure
    assert resp.status_code == 500
    assert "<h1>Something went wrong</h1>" in html
    assert not [leak for leak in LEAKS if leak in html]
    assert len(html) < 3_000
