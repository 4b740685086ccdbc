"""The reset period of a key's spend limit in the console: chosen at creation, changed on the
key's page (audited), shown with the limit; a period that is not offered is refused."""

from __future__ import annotations

from django.test import Client

from accounts.models import ApiKey, ApiKeyEvent, User
from accounts.services import apikey_create

FIELDS = {
    "name": "",
    "monthly_limit_usd": "",
    "allowed_models": "",
    "allowed_ips": "",
    "rate_limit_rpm": "",
    "expires_on": "",
}


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_key_created_with_a_daily_limit_shows_it_per_day(owner: User) -> None:
    client = _client(owner)
    form = client.get("/keys/").content.decode()
    assert 'name="limit_reset"' in form and "Weekly (Monday UTC)" in form
    resp = client.post(
        "/keys/", {**FIELDS, "name": "d", "monthly_limit_usd": "2", "limit_reset": "daily"}
    )
    assert resp.status_code == 303
    key = ApiKey.objects.get(user=owner)
    assert (key.monthly_limit, key.limit_reset, key.limit_period) == (2_000_000, "daily", "day")
    body = client.get("/keys/").content.decode()
    assert "$0.00 / $2.00 per day (UTC)" in body
    assert "per day, per week or per calendar month (UTC)" in body


def test_a_key_created_without_a_choice_resets_monthly(owner: User) -> None:
    client = _client(owner)
    assert client.post("/keys/", {**FIELDS, "monthly_limit_usd": "1"}).status_code == 303
    key = ApiKey.objects.get(user=owner)
    assert key.limit_reset == "monthly"
    assert "$0.00 / $1.00 per month (UTC)" in client.get("/keys/").content.decode()


def test_the_edit_page_changes_the_reset_and_keeps_it_when_not_sent(owner: User) -> None:
    key = apikey_create(user=owner, name="k", monthly_limit=3_000_000).api_key
    client = _client(owner)
    url = f"/keys/{key.pk}/edit/"
    kept = {**FIELDS, "rate_limit_rpm": str(key.rate_limit_rpm)}
    page = client.get(url).content.decode()
    assert '<option value="monthly" selected>' in page
    resp = client.post(
        url, {**kept, "name": "k", "monthly_limit_usd": "3", "limit_reset": "weekly"}
    )
    assert resp.status_code == 303
    key.refresh_from_db()
    assert key.limit_reset == "weekly" and key.monthly_limit == 3_000_000
    event = ApiKeyEvent.objects.get(api_key=key, kind="updated")
    assert event.detail["fields"] == ["limit_reset"]
    assert "$0.00 / $3.00 per week (UTC)" in client.get(url).content.decode()
    # a post without the field leaves the period as it is
    client.post(url, {**kept, "name": "k2", "monthly_limit_usd": "3"})
    key.refresh_from_db()
    assert (key.name, key.limit_reset) == ("k2", "weekly")


def test_a_period_not_offered_is_refused_and_nothing_changes(owner: User) -> None:
    key = apikey_create(user=owner, name="k", monthly_limit=1_000).api_key
    client = _client(owner)
    resp = client.post(f"/keys/{key.pk}/edit/", {**FIELDS, "name": "k", "limit_reset": "yearly"})
    assert resp.status_code == 200
    assert "Select a valid choice" in resp.content.decode()
    key.refresh_from_db()
    assert key.limit_reset == "monthly"
    resp = client.post("/keys/", {**FIELDS, "limit_reset": "hourly"})
    assert resp.status_code == 200 and ApiKey.objects.filter(user=owner).count() == 1
