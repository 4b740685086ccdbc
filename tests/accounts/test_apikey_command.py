"""``manage.py apikey_create --limit-reset``: the key's spend limit starts over daily, weekly
or monthly (the default), as the console's form sets it; any other value is refused before a
key is made."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import ApiKey
from accounts.services import user_create

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("reset", ["daily", "weekly", "monthly"])
def test_the_reset_given_is_the_keys(reset: str) -> None:
    user_create(email="reset@example.com")
    out = StringIO()
    call_command(
        "apikey_create", "reset@example.com", "--limit", "2500", "--limit-reset", reset, stdout=out
    )
    key = ApiKey.objects.get(user__email="reset@example.com")
    assert (key.monthly_limit, key.limit_reset) == (2_500, reset)
    assert key.limit_period == {"daily": "day", "weekly": "week", "monthly": "month"}[reset]
    assert out.getvalue().strip().startswith(f"sk-{key.prefix}-")


def test_without_a_reset_the_limit_is_monthly() -> None:
    user_create(email="plain@example.com")
    call_command("apikey_create", "plain@example.com", "--monthly-limit", "10", stdout=StringIO())
    key = ApiKey.objects.get(user__email="plain@example.com")
    assert (key.monthly_limit, key.limit_reset) == (10, "monthly")


def test_an_unknown_reset_is_refused_and_makes_no_key() -> None:
    user_create(email="hourly@example.com")
    with pytest.raises(CommandError, match="invalid choice: 'hourly'"):
        call_command(
            "apikey_create", "hourly@example.com", "--limit-reset", "hourly", stdout=StringIO()
        )
    assert ApiKey.objects.filter(user__email="hourly@example.com").count() == 0
