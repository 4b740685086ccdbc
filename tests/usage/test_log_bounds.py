"""The request log's bounded query (``log_page_for``: successful rows read on the days the
daily rollups name, the other statuses through the partial indexes) answers exactly the rows
and the next cursor of the plain query (``log_page`` of ``log_queryset``), over many random
filters and cursors on a seeded log: gaps of days, ties on created_at, every status, two
keys and none, a deleted key, a model or a surface absent from the log, a request created
just before midnight whose rollup is the next day's."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ApiKey, User
from accounts.services import apikey_create, user_create
from gateway.console.filters import STATUSES, UsageFilterForm, UsageQuery, usage_query
from gateway.console.requests_log import (
    LogPage,
    cursor_encode,
    day_spans,
    log_page,
    log_page_for,
    log_queryset,
)
from gateway.models import Generation, UsageDaily
from tests.usage.page_rows import generation_at

pytestmark = pytest.mark.django_db

MODELS = ("m/a", "m/b", "m/rare", "m/midnight", "m/legacy")
SURFACES = ("chat.completions", "messages")


def make_user(email: str) -> User:
    return user_create(email=email, password="correct-horse-battery-staple-9")


def seeded_log(rng: random.Random) -> tuple[User, list[str]]:
    """One user's log over 40 days with gaps; the key filter values it can be asked for."""
    user = make_user("bounds@example.com")
    other = make_user("other@example.com")
    keys: list[ApiKey | None] = [
        apikey_create(user=user, name="ci").api_key,
        apikey_create(user=user, name="laptop").api_key,
        None,
    ]
    gone = apikey_create(user=user, name="gone").api_key
    now = timezone.now().astimezone(dt.UTC)
    busy_days = [d for d in range(40) if d % 9 not in (3, 4)]  # some days have no request
    for n in range(260):
        at = now - dt.timedelta(days=rng.choice(busy_days), seconds=rng.randrange(86_400))
        if n % 17 == 0:
            at = now - dt.timedelta(days=2)  # many rows on one instant: ties broken by id
        status = rng.choices(STATUSES, weights=(70, 12, 6, 4, 8))[0]
        model = rng.choice(MODELS[:2]) if n % 40 else "m/rare"
        generation_at(
            user,
            at,
            key=rng.choice(keys),
            model=model,
            status=status,
            surface=rng.choice(SURFACES),
            http_status=200 if status == "success" else 502,
        )
        if n % 5 == 0:
            generation_at(other, at, key=None, model=model)
    for n in range(4):  # a deleted key's requests: no key in the log, its id in the rollups
        generation_at(user, now - dt.timedelta(days=21, hours=6 * n), key=gone, model="m/legacy")
    gone_id = str(gone.pk)
    gone.delete()
    # created just before a midnight, its settle's rollup the next UTC day's
    midnight = dt.datetime.combine(now.date() - dt.timedelta(days=12), dt.time.min, tzinfo=dt.UTC)
    late = generation_at(user, midnight - dt.timedelta(microseconds=10), model="m/midnight")
    moved = UsageDaily.objects.filter(user=user, model="m/midnight").update(day=midnight.date())
    assert moved == 1 and late.created_at.date() == midnight.date() - dt.timedelta(days=1)
    return user, ["", "none", str(keys[0].pk), str(keys[1].pk), gone_id, "999999"]  # type: ignore[union-attr]


def query_of(params: dict[str, str]) -> UsageQuery:
    form = UsageFilterForm(params, key_choices=[])
    assert form.is_valid(), form.errors
    return usage_query(form)


def plain(user: User, query: UsageQuery, cursor: str, size: int) -> LogPage:
    return log_page(log_queryset(user_id=user.pk, query=query), cursor=cursor, size=size)


def bounded(user: User, query: UsageQuery, cursor: str, size: int) -> LogPage:
    return log_page_for(user_id=user.pk, query=query, cursor=cursor, size=size)


def assert_same(user: User, query: UsageQuery, cursor: str, size: int) -> LogPage:
    want, got = plain(user, query, cursor, size), bounded(user, query, cursor, size)
    assert [g.pk for g in got.rows] == [g.pk for g in want.rows], (query, cursor, size)
    assert got.next_cursor == want.next_cursor, (query, cursor, size)
    return want


def test_bounded_pages_equal_the_plain_query_over_random_filters_and_cursors() -> None:
    rng = random.Random(20261202)
    user, key_values = seeded_log(rng)
    rows = list(Generation.objects.filter(user=user))
    compared = pages = 0
    for _ in range(160):
        params = {
            "period": rng.choice(["7", "30", "90", "custom"]),
            "model": rng.choice([*MODELS, "", "", "m/absent"]),
            "key": rng.choice(key_values),
            "status": rng.choice([*STATUSES, "", "", "success"]),
            "surface": rng.choice([*SURFACES, "", "", "", "embeddings"]),
        }
        if params["period"] == "custom":
            today = timezone.now().astimezone(dt.UTC).date()
            first = today - dt.timedelta(days=rng.randrange(45))
            params |= {
                "start": first.isoformat(),
                "end": (first + dt.timedelta(days=rng.randrange(1, 15))).isoformat(),
            }
        query, size = query_of(params), rng.choice([1, 3, 7, 50])
        # every page from the first, then random cursors (any row's, and one not ours)
        cursor, walked = "", 0
        while True:
            page = assert_same(user, query, cursor, size)
            pages, walked = pages + 1, walked + len(page.rows)
            if not page.next_cursor or pages > 4000:
                break
            cursor = page.next_cursor
        assert walked == log_queryset(user_id=user.pk, query=query).count()
        for row in rng.sample(rows, 3):
            assert_same(user, query, cursor_encode(row.created_at, row.pk), size)
        assert_same(user, query, "not-a-cursor", size)
        compared += 1
    assert compared == 160 and pages > 300
    # and the two cases a bound could miss: a deleted key's requests (no key in the log, the
    # key's id in their rollups) and the request whose rollup is the next day's
    for model, key, count in (("m/legacy", "none", 4), ("m/legacy", "", 4), ("m/midnight", "", 1)):
        for status in ("", "success"):
            query = query_of({"period": "30", "model": model, "key": key, "status": status})
            assert len(assert_same(user, query, "", 50).rows) == count


def test_a_model_without_rollups_or_failed_rows_is_answered_from_the_indexes_alone() -> None:
    # given a log of successful m/a requests
    user = make_user("empty@example.com")
    now = timezone.now().astimezone(dt.UTC)
    for n in range(30):
        generation_at(user, now - dt.timedelta(hours=n), model="m/a")
    query = query_of({"period": "30", "model": "m/absent", "status": "success"})
    # when the log is asked for a model it never used, successful only
    with CaptureQueriesContext(connection) as queries:
        page = bounded(user, query, "", 50)
    # then the answer is empty after one read of the rollups and none of the log
    assert page.rows == [] and page.next_cursor == ""
    assert len(queries) == 1 and "gateway_usagedaily" in queries[0]["sql"]


def test_a_surface_without_rollups_or_failed_rows_is_answered_from_the_indexes_alone() -> None:
    # given a log of chat completions, successful and failed
    user = make_user("nosurface@example.com")
    now = timezone.now().astimezone(dt.UTC)
    for n in range(30):
        generation_at(user, now - dt.timedelta(hours=n), status="success" if n % 5 else "error")
    # when the log is asked for a surface it never used, successful only, then any status
    success = query_of({"period": "30", "surface": "embeddings", "status": "success"})
    with CaptureQueriesContext(connection) as queries:
        page = bounded(user, success, "", 50)
    # then the successful answer is empty after one read of the rollups and none of the log
    assert page.rows == [] and page.next_cursor == ""
    assert len(queries) == 1 and "gateway_usagedaily" in queries[0]["sql"]
    # and any status adds one read of the failed rows, through the partial surface index
    anything = query_of({"period": "30", "surface": "embeddings"})
    with CaptureQueriesContext(connection) as queries:
        page = bounded(user, anything, "", 50)
    assert page.rows == [] and len(queries) == 2
    assert "gateway_usagedaily" in queries[0]["sql"]
    assert "gateway_generation" in queries[1]["sql"]
    # while a surface it used pages exactly as the plain query: 24 successes, 6 errors
    used = query_of({"period": "30", "surface": "chat.completions"})
    assert len(assert_same(user, used, "", 50).rows) == 30
    assert [g.status for g in bounded(user, used, "", 50).rows].count("error") == 6


def test_day_spans_cover_a_day_either_side_newest_first() -> None:
    d = dt.date(2026, 11, 20)
    days = {d, d - dt.timedelta(days=1), d - dt.timedelta(days=5)}
    assert day_spans(days) == [
        (d - dt.timedelta(days=2), d + dt.timedelta(days=1)),
        (d - dt.timedelta(days=6), d - dt.timedelta(days=4)),
    ]
    many = {d - dt.timedelta(days=4 * n) for n in range(20)}
    spans = day_spans(many)
    assert len(spans) == 8
    assert spans[-1] == (d - dt.timedelta(days=77), d - dt.timedelta(days=27))
    assert day_spans(set()) == []
