"""The request log on /usage/: its filters (kept in the URL), its keyset cursor (no repeated
or missing row across pages, also with requests arriving between two pages) and isolation
(another user's requests never appear)."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import ApiKey, User
from accounts.services import apikey_create, user_create
from gateway.console.requests_log import PAGE_SIZE, cursor_decode, cursor_encode
from tests.usage.page_rows import generation_at

pytestmark = pytest.mark.django_db


@pytest.fixture
def user() -> User:
    return user_create(email="log@example.com", password="correct-horse-battery-staple-9")


@pytest.fixture
def client_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def now() -> dt.datetime:
    return timezone.now().astimezone(dt.UTC)


def log_ids(client: Client, **params: str) -> tuple[list[str], str]:
    resp = client.get("/usage/", params)
    assert resp.status_code == 200
    page = resp.context["page"]
    return [g.request_id for g in page.rows], page.next_cursor


def all_pages(client: Client, **params: str) -> list[str]:
    ids, cursor = log_ids(client, **params)
    while cursor:
        more, cursor = log_ids(client, **params, cursor=cursor)
        ids += more
    return ids


def test_filters_by_model_key_status_surface_and_days(user: User, client_in: Client) -> None:
    key = apikey_create(user=user, name="ci").api_key
    other_key = apikey_create(user=user, name="laptop").api_key
    t = now()
    a = generation_at(user, t - dt.timedelta(minutes=1), key=key, model="m/a")
    b = generation_at(user, t - dt.timedelta(minutes=2), key=other_key, model="m/b")
    c = generation_at(
        user, t - dt.timedelta(minutes=3), key=key, model="m/a", status="error", http_status=502
    )
    d = generation_at(user, t - dt.timedelta(minutes=4), surface="messages", model="m/b")
    old = generation_at(user, t - dt.timedelta(days=20), key=key, model="m/a")
    ids = lambda *gs: [g.request_id for g in gs]  # noqa: E731
    assert log_ids(client_in, period="7")[0] == ids(a, b, c, d)
    assert log_ids(client_in, period="30")[0] == ids(a, b, c, d, old)
    assert log_ids(client_in, period="30", model="m/a")[0] == ids(a, c, old)
    assert log_ids(client_in, period="30", key=str(other_key.pk))[0] == ids(b)
    assert log_ids(client_in, period="30", key="none")[0] == ids(d)
    assert log_ids(client_in, period="30", status="error")[0] == ids(c)
    assert log_ids(client_in, period="30", surface="messages")[0] == ids(d)
    assert log_ids(client_in, period="30", model="m/a", status="success")[0] == ids(a, old)
    # a custom range of UTC days, both ends included
    day = old.created_at.astimezone(dt.UTC).date()
    custom = {"period": "custom", "start": day.isoformat(), "end": day.isoformat()}
    assert log_ids(client_in, **custom)[0] == ids(old)
    # days alone are a custom range; a preset period ignores the days the page filled in
    assert log_ids(client_in, start=day.isoformat(), end=day.isoformat())[0] == ids(old)
    assert log_ids(client_in, period="7", start=day.isoformat())[0] == ids(a, b, c, d)


def test_filters_stay_in_the_url_of_the_next_page_and_the_export(
    user: User, client_in: Client
) -> None:
    t = now()
    for n in range(PAGE_SIZE + 1):
        generation_at(user, t - dt.timedelta(seconds=n), model="m/a")
    resp = client_in.get("/usage/", {"period": "7", "model": "m/a", "status": "success"})
    page = resp.content.decode()
    older = resp.context["page"].next_cursor
    assert older
    older_href = re.search(r'href="([^"]*)" rel="next" id="older"', page)
    export_href = re.search(r'id="export" href="([^"]*)"', page)
    assert older_href and export_href
    for href in (older_href.group(1), export_href.group(1)):
        query = parse_qs(urlparse(href.replace("&amp;", "&")).query)
        assert query["model"] == ["m/a"] and query["status"] == ["success"]
        assert query["period"] == ["7"]
    assert parse_qs(urlparse(older_href.group(1).replace("&amp;", "&")).query)["cursor"] == [older]


def test_cursor_pages_have_no_duplicates_or_gaps(user: User, client_in: Client) -> None:
    t = now()
    # 3 pages' worth, with runs of rows sharing one created_at (the id breaks the tie)
    made = [generation_at(user, t - dt.timedelta(seconds=n // 4)) for n in range(2 * PAGE_SIZE + 7)]
    expected = [
        g.request_id for g in sorted(made, key=lambda g: (g.created_at, g.id), reverse=True)
    ]
    ids = all_pages(client_in, period="7")
    assert ids == expected and len(set(ids)) == len(made)


def test_cursor_is_stable_when_requests_arrive_between_pages(user: User, client_in: Client) -> None:
    t = now() - dt.timedelta(minutes=5)
    made = [generation_at(user, t - dt.timedelta(seconds=n)) for n in range(PAGE_SIZE + 10)]
    first, cursor = log_ids(client_in, period="7")
    assert len(first) == PAGE_SIZE and cursor
    # when five new requests arrive before the next page is asked for
    for n in range(5):
        generation_at(user, now() - dt.timedelta(seconds=n))
    second, cursor = log_ids(client_in, period="7", cursor=cursor)
    # then the second page goes on exactly where the first stopped
    assert first + second == [g.request_id for g in made] and cursor == ""


def test_another_users_requests_never_appear(user: User, client_in: Client) -> None:
    other = user_create(email="other@example.com", password="correct-horse-battery-staple-9")
    other_key = apikey_create(user=other, name="theirs").api_key
    mine = generation_at(user, now())
    theirs = generation_at(other, now(), key=other_key)
    assert all_pages(client_in, period="90") == [mine.request_id]
    # not even by asking for their key
    assert log_ids(client_in, period="90", key=str(other_key.pk))[0] == []
    assert theirs.request_id not in client_in.get("/usage/").content.decode()
    assert ApiKey.objects.filter(user=user).count() == 0


def test_cursor_round_trip_and_garbage() -> None:
    moment = dt.datetime(2026, 12, 1, 23, 5, 7, 123456, tzinfo=dt.UTC)
    assert cursor_decode(cursor_encode(moment, 42)) == (moment, 42)
    for bad in ("", "x", "!!!", cursor_encode(moment, 1)[:-3] + "***"):
        assert cursor_decode(bad) is None
