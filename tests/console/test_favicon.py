"""The site's icon: every page links ``static/favicon.svg``, and ``/favicon.ico`` (asked for by
browsers at the root) redirects to it instead of a 404."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest
from django.contrib.staticfiles import finders
from django.templatetags.static import static
from django.test import Client

pytestmark = pytest.mark.django_db


def test_favicon_ico_redirects_to_the_svg_icon() -> None:
    resp = Client().get("/favicon.ico")
    assert resp.status_code == 302
    assert resp["Location"] == static("favicon.svg")
    assert "max-age=86400" in resp["Cache-Control"] and "public" in resp["Cache-Control"]
    assert Client().head("/favicon.ico").status_code == 302
    assert Client().post("/favicon.ico").status_code == 405


def test_the_icon_is_a_small_svg_file() -> None:
    path = finders.find("favicon.svg")
    assert path is not None
    with open(path, "rb") as icon:
        data = icon.read()
    assert len(data) < 1_024
    root = ElementTree.fromstring(data)
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("viewBox") == "0 0 32 32"
    assert b"<script" not in data


@pytest.mark.parametrize("path", ["/accounts/login/", "/models/"])
def test_pages_link_the_icon(path: str) -> None:
    page = Client().get(path).content.decode()
    assert f'<link rel="icon" href="{static("favicon.svg")}" type="image/svg+xml">' in page
