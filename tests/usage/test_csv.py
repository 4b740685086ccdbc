"""The CSV export of the request log: a streamed text/csv answer, its header and rows exactly,
the usage page's filters honoured, another user's requests never in it, and batches read by
the keyset cursor (rows across batch boundaries neither repeat nor go missing)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.http import StreamingHttpResponse
from django.test import Client
from django.utils import timezone

from accounts.models import User
from accounts.services import apikey_create, user_create
from gateway.console import export
from tests.usage.page_rows import generation_at

pytestmark = pytest.mark.django_db

HEADER = [
    "id",
    "time_utc",
    "key_name",
    "key_prefix",
    "model",
    "provider",
    "surface",
    "status",
    "prompt_tokens",
    "completion_tokens",
    "cost_credits",
    "cost_usd",
    "latency_ms",
]


@pytest.fixture
def user() -> User:
    return user_create(email="csv@example.com", password="correct-horse-battery-staple-9")


@pytest.fixture
def client_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def download(client: Client, **params: str) -> list[list[str]]:
    resp = client.get("/usage/export.csv", params)
    assert resp.status_code == 200
    assert isinstance(resp, StreamingHttpResponse)
    assert resp["Content-Type"] == "text/csv; charset=utf-8"
    assert resp["Content-Disposition"].startswith('attachment; filename="usage-')
    return list(csv.reader(io.StringIO(b"".join(resp.streaming_content).decode())))


def test_header_and_rows_exactly(user: User, client_in: Client) -> None:
    key = apikey_create(user=user, name="ci, nightly").api_key
    moment = dt.datetime.now(dt.UTC).replace(microsecond=250000) - dt.timedelta(hours=1)
    a = generation_at(
        user,
        moment,
        key=key,
        model="acme/big",
        provider="acme",
        prompt_tokens=1200,
        completion_tokens=345,
        cost=4_998_732,
        latency_ms=1834,
    )
    b = generation_at(
        user,
        moment - dt.timedelta(minutes=1),
        model="test/echo",
        surface="messages",
        status="refused",
        http_status=402,
        error_code="insufficient_credits",
        provider="",
        prompt_tokens=0,
        completion_tokens=0,
        cost=0,
        latency_ms=3,
    )
    stamp = moment.isoformat().replace("+00:00", "Z")
    assert download(client_in, period="7") == [
        HEADER,
        [
            a.request_id,
            stamp,
            "ci, nightly",
            key.prefix,
            "acme/big",
            "acme",
            "chat.completions",
            "success",
            "1200",
            "345",
            "4998732",
            "4.998732",
            "1834",
        ],
        [
            b.request_id,
            (moment - dt.timedelta(minutes=1)).isoformat().replace("+00:00", "Z"),
            "",
            "",
            "test/echo",
            "",
            "messages",
            "refused",
            "0",
            "0",
            "0",
            "0.000000",
            "3",
        ],
    ]


def test_filters_and_isolation(user: User, client_in: Client) -> None:
    other = user_create(email="other@example.com", password="correct-horse-battery-staple-9")
    now = timezone.now()
    mine_a = generation_at(user, now, model="m/a")
    generation_at(user, now - dt.timedelta(seconds=1), model="m/b", status="error")
    old = generation_at(user, now - dt.timedelta(days=40), model="m/a")
    generation_at(other, now, model="m/a")
    ids = lambda rows: [r[0] for r in rows[1:]]  # noqa: E731
    assert len(download(client_in, period="30")) == 3  # header + my two of the period
    assert ids(download(client_in, period="30", model="m/a")) == [mine_a.request_id]
    assert ids(download(client_in, period="90", model="m/a")) == [
        mine_a.request_id,
        old.request_id,
    ]
    assert download(client_in, period="30", status="cancelled") == [HEADER]


def test_batches_follow_the_cursor_across_ties(
    user: User, client_in: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given batches of 3 and 10 rows where runs of 4 share a created_at
    monkeypatch.setattr(export, "BATCH", 3)
    now = timezone.now()
    made = [generation_at(user, now - dt.timedelta(seconds=n // 4)) for n in range(10)]
    expected = sorted(made, key=lambda g: (g.created_at, g.id), reverse=True)
    assert [r[0] for r in download(client_in, period="7")[1:]] == [g.request_id for g in expected]
