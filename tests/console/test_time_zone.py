"""Console times: in the user's time zone with the UTC offset; the zone is the console's
only (the API's middleware chain never loads the user for it); a key's spend bar appears
only once per-key period spend is provided."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from django.test import Client
from django.utils import timezone

from accounts.models import User
from accounts.templatetags.console_time import iso_utc, when
from tests.console.conftest import PASSWORD

MOMENT = dt.datetime(2026, 12, 1, 22, 5, 9, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("zone", "precision", "text"),
    [
        ("UTC", "minutes", "2026-12-01 22:05 (UTC+00:00)"),
        ("Europe/Paris", "minutes", "2026-12-01 23:05 (UTC+01:00)"),
        ("Asia/Kolkata", "seconds", "2026-12-02 03:35:09 (UTC+05:30)"),
        ("America/St_Johns", "minutes", "2026-12-01 18:35 (UTC-03:30)"),
        ("Pacific/Kiritimati", "day", "2026-12-02 (UTC+14:00)"),
    ],
)
def test_when_shows_the_active_zone_s_time_and_offset(zone: str, precision: str, text: str) -> None:
    with timezone.override(zoneinfo.ZoneInfo(zone)):
        assert when(MOMENT, precision) == text
    assert iso_utc(MOMENT) == "2026-12-01T22:05:09+00:00"


def test_when_of_nothing_is_a_dash() -> None:
    assert when(None) == "-" and when("") == "-" and iso_utc(None) == ""


def test_summer_time_moves_the_offset() -> None:
    with timezone.override(zoneinfo.ZoneInfo("Europe/Paris")):
        assert when(dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.UTC)) == "2026-07-01 14:00 (UTC+02:00)"


def test_a_time_zone_outside_the_known_ones_is_refused(owner: User) -> None:
    owner.time_zone = "Europe/Atlantis"
    with pytest.raises(ValidationError):
        owner.full_clean()


def test_the_console_runs_the_zone_middleware_and_the_api_does_not() -> None:
    name = "accounts.middleware.UserTimeZoneMiddleware"
    assert name in settings.MIDDLEWARE
    assert name not in settings.API_MIDDLEWARE
    assert settings.MIDDLEWARE.index(name) > settings.MIDDLEWARE.index(
        "django.contrib.auth.middleware.AuthenticationMiddleware"
    )


def test_a_user_s_zone_applies_to_their_requests_only(owner: User) -> None:
    # given a user in Tokyo, and an anonymous visitor
    owner.time_zone = "Asia/Tokyo"
    owner.save()
    client = Client()
    assert client.login(username=owner.email, password=PASSWORD)
    body = client.get("/account/").content.decode()
    assert "(UTC+09:00)" in body  # member since ..., in Tokyo
    # after the request the zone is no longer active in this thread
    assert timezone.get_current_timezone_name() == "UTC"
    assert "(UTC+09:00)" not in Client().get("/accounts/login/").content.decode()


def test_the_spend_bar_appears_with_period_spend_only() -> None:
    # today: no per-key period spend provided, the month's text only
    key = SimpleNamespace(month_spent=250_000, monthly_limit=1_000_000)
    html = render_to_string("accounts/includes/key_spend.html", {"key": key})
    assert "$0.25 / $1.00" in html and "<meter" not in html
    # once the rollups provide it: the bar, and the text from the same number
    key = SimpleNamespace(month_spent=0, monthly_limit=1_000_000, period_spend=400_000)
    html = render_to_string("accounts/includes/key_spend.html", {"key": key})
    assert "$0.40 / $1.00" in html
    assert 'max="1000000"' in html and 'value="400000"' in html and ">40%<" in html
    # no limit: no bar, the spend as text
    key = SimpleNamespace(month_spent=0, monthly_limit=None, period_spend=400_000)
    html = render_to_string("accounts/includes/key_spend.html", {"key": key})
    assert "$0.40 / no limit" in html and "<meter" not in html
