"""A key made through ``POST /v1/keys`` with a spend limit, on a live server: past its limit a
request is refused with 402 ``key_limit_exceeded`` (nothing charged, the upstream not
called), and the limit starts over at 00:00 UTC the next day (daily), on Monday (weekly),
or never. Time is moved, not waited for: ``timezone.now`` is set for the whole process, so
the ledger's period (``config.money.period_start``) moves as it will."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from accounts.models import ApiKey
from billing.models import CreditAccount, KeySpend
from billing.services import credits_grant
from config.money import NEVER_START
from tests.factories import ModelFactory
from tests.fakes.upstream import FakeUpstream
from tests.helpers import chat_body
from tests.keys_api.support import Clock, call, manager_of

pytestmark = pytest.mark.django_db(transaction=True)

WEDNESDAY = dt.datetime(2027, 3, 10, 12, 0, tzinfo=dt.UTC)
SUNDAY = dt.datetime(2027, 3, 14, 12, 0, tzinfo=dt.UTC)
LIMIT_USD = 0.00015  # 150 credits: room for one request of 100, not two


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


def _key(live_server: Any, limit_reset: str | None) -> tuple[str, str, Any]:
    user, manager = manager_of(f"{limit_reset}@example.com")
    credits_grant(user_id=user.pk, amount=1_000_000, memo="test")
    made = call(live_server.url, manager)(
        "POST", "/v1/keys", {"name": "limited", "limit": LIMIT_USD, "limit_reset": limit_reset}
    )
    assert made.status_code == 201, made.text
    return made.json()["data"]["hash"], made.json()["key"], user


def _chat(live_server: Any, secret: str) -> Any:
    return call(live_server.url, secret)("POST", "/v1/chat/completions", chat_body(text="hi"))


def _refused(live_server: Any, secret: str) -> None:
    resp = _chat(live_server, secret)
    assert resp.status_code == 402, resp.text
    assert resp.json()["error"]["code"] == "key_limit_exceeded"


def _info(live_server: Any, secret: str) -> dict[str, Any]:
    return call(live_server.url, secret)("GET", "/v1/key").json()["data"]


@pytest.mark.parametrize(
    ("reset", "start", "last_moment", "next_period"),
    [
        ("daily", WEDNESDAY, dt.datetime(2027, 3, 10, 23, 59, 59, tzinfo=dt.UTC), "2027-03-11"),
        ("weekly", SUNDAY - dt.timedelta(days=3), SUNDAY.replace(hour=23, minute=59), "2027-03-15"),
    ],
)
def test_a_limit_refuses_past_it_and_starts_over_on_its_next_period(
    live_server: Any,
    make_model: ModelFactory,
    upstream: FakeUpstream,
    clock: Clock,
    reset: str,
    start: dt.datetime,
    last_moment: dt.datetime,
    next_period: str,
) -> None:
    make_model("test/echo")
    clock.to(start)
    key_hash, secret, user = _key(live_server, reset)
    first = _chat(live_server, secret)
    assert first.status_code == 200 and first.json()["usage"]["cost"] == 100
    _refused(live_server, secret)
    info = _info(live_server, secret)
    assert (info["limit_reset"], info["limit_credits"], info["limit_remaining_credits"]) == (
        reset,
        150,
        50,
    )
    # the last moment of the period: still refused
    clock.to(last_moment)
    _refused(live_server, secret)
    assert len(upstream.requests) == 1
    assert CreditAccount.objects.get(user=user).balance == 1_000_000 - 100
    # 00:00 UTC of the next period (the next day; the Monday after the Sunday)
    clock.to(dt.datetime.fromisoformat(next_period).replace(tzinfo=dt.UTC))
    info = _info(live_server, secret)
    assert info["limit_remaining_credits"] == 150 and info["usage_credits"] == 100
    again = _chat(live_server, secret)
    assert again.status_code == 200, again.text
    _refused(live_server, secret)
    rows = dict(KeySpend.objects.filter(api_key__prefix=key_hash).values_list("month", "spent"))
    first_day = start.date() if reset == "daily" else dt.date(2027, 3, 8)
    assert rows == {first_day: 100, dt.date.fromisoformat(next_period): 100}


def test_a_limit_that_never_resets(
    live_server: Any, make_model: ModelFactory, upstream: FakeUpstream, clock: Clock
) -> None:
    make_model("test/echo")
    clock.to(WEDNESDAY)
    key_hash, secret, user = _key(live_server, None)  # null: OpenRouter's never
    assert _chat(live_server, secret).status_code == 200
    _refused(live_server, secret)
    for later in (dt.timedelta(days=1), dt.timedelta(days=7), dt.timedelta(days=400)):
        clock.to(WEDNESDAY + later)
        _refused(live_server, secret)
        info = _info(live_server, secret)
        assert info["limit_reset"] is None and info["limit_remaining_credits"] == 50
    assert len(upstream.requests) == 1
    rows = list(KeySpend.objects.filter(api_key__prefix=key_hash).values_list("month", "spent"))
    assert rows == [(NEVER_START, 100)]
    assert ApiKey.objects.get(prefix=key_hash).limit_reset == "never"
    assert CreditAccount.objects.get(user=user).balance == 1_000_000 - 100
