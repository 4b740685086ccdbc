"""Per-key spend from the rollups: every key counts, limited or not (a key without a limit
used to report ``usage: 0`` after real spend), since the start of its own period; and the
series and totals the usage pages read."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from accounts.services import apikey_create
from gateway.models import UsageDaily
from gateway.usage_selectors import key_period_spend, usage_series, usage_totals
from tests.factories import AccountFactory
from tests.helpers import ApiClient, chat_body
from tests.usage.rollup_world import START, priced_models  # noqa: F401 (a fixture)

URL = "/v1/chat/completions"


@pytest.mark.usefixtures("priced_models")
@pytest.mark.parametrize("limit", [None, 5_000_000], ids=["unlimited", "limited"])
def test_v1_key_reports_the_keys_real_usage(
    api: ApiClient, make_account: AccountFactory, limit: int | None
) -> None:
    # given a key, with or without a monthly limit, after two real billed requests
    account = make_account(START, monthly_limit=limit)
    costs = []
    for model in ("test/echo", "test/other"):
        resp = api.post(URL, chat_body(model, max_tokens=30), account=account)
        assert resp.status_code == 200, resp.content
        costs.append(resp.json()["usage"]["cost"])
    assert all(costs) and START - account.balance() == sum(costs)
    # when it asks for itself
    data = api.get("/v1/key", account=account).json()["data"]
    # then its usage is exactly what it was charged
    assert data["usage_credits"] == data["usage_monthly_credits"] == sum(costs)
    assert data["usage"] == sum(costs) / 1_000_000
    assert data["limit_credits"] == limit
    assert data["limit_remaining_credits"] == (None if limit is None else limit - sum(costs))
    assert key_period_spend([account.key.pk]) == {account.key.pk: sum(costs)}


def bucket(user_id: int, key_id: int, day: dt.date, cost: int, model: str = "m/a", **sums: int):
    return UsageDaily.objects.create(
        user_id=user_id, key_id=key_id, model=model, day=day, cost=cost, requests=1, **sums
    )


def test_key_period_spend_counts_the_keys_month_only(make_account: AccountFactory) -> None:
    # given two users' keys with usage on either side of 1 December
    a, b = make_account(0), make_account(0)
    unused = make_account(0)
    now = dt.datetime(2026, 12, 15, 9, 30, tzinfo=dt.UTC)
    bucket(a.user.pk, a.key.pk, dt.date(2026, 11, 30), 1_000)  # last month
    bucket(a.user.pk, a.key.pk, dt.date(2026, 12, 1), 200)
    bucket(a.user.pk, a.key.pk, dt.date(2026, 12, 15), 30, model="m/b")
    bucket(b.user.pk, b.key.pk, dt.date(2026, 12, 2), 4)
    bucket(b.user.pk, 0, dt.date(2026, 12, 2), 7_000)  # b's requests without a key
    # then each key counts its own month, an unused or unknown key 0
    ids = [a.key.pk, b.key.pk, unused.key.pk, 999_999]
    assert key_period_spend(ids, now) == {
        a.key.pk: 230,
        b.key.pk: 4,
        unused.key.pk: 0,
        999_999: 0,
    }
    assert key_period_spend([], now) == {}
    # and on 1 December at midnight the month has just begun
    assert key_period_spend([a.key.pk], dt.datetime(2026, 12, 1, tzinfo=dt.UTC)) == {a.key.pk: 230}


def test_series_and_totals_group_by_model_and_key_over_inclusive_days(
    make_account: AccountFactory,
) -> None:
    a, other = make_account(0), make_account(0)
    d1, d2, d3 = dt.date(2026, 11, 1), dt.date(2026, 11, 2), dt.date(2026, 11, 3)
    bucket(a.user.pk, a.key.pk, d1, 100, prompt_tokens=10, completion_tokens=1)
    bucket(a.user.pk, 0, d1, 50, prompt_tokens=5, completion_tokens=2)
    bucket(a.user.pk, a.key.pk, d2, 7, model="m/b", prompt_tokens=1, completion_tokens=1)
    bucket(a.user.pk, a.key.pk, d3, 9_999)  # outside the range
    bucket(other.user.pk, other.key.pk, d1, 12_345)  # another user's
    assert usage_series(a.user.pk, d1, d2, "model") == [
        (d1, "m/a", 2, 15, 3, 150),
        (d2, "m/b", 1, 1, 1, 7),
    ]
    assert usage_series(a.user.pk, d1, d2, "key") == [
        (d1, 0, 1, 5, 2, 50),
        (d1, a.key.pk, 1, 10, 1, 100),
        (d2, a.key.pk, 1, 1, 1, 7),
    ]
    assert usage_totals(a.user.pk, d1, d2, "key") == [
        (0, 1, 5, 2, 50),
        (a.key.pk, 2, 11, 2, 107),
    ]
    assert usage_totals(a.user.pk, d1, d3, "model") == [
        ("m/a", 3, 15, 3, 10_149),
        ("m/b", 1, 1, 1, 7),
    ]
    with pytest.raises(ValueError):
        usage_totals(a.user.pk, d1, d2, "provider")  # type: ignore[arg-type]


@pytest.mark.usefixtures("priced_models")
def test_the_keys_page_shows_an_unlimited_keys_spend(
    api: ApiClient, make_account: AccountFactory, client: Client
) -> None:
    # given a key without a limit that spent on one request and a limited one that did not
    account = make_account(START)
    apikey_create(user=account.user, name="capped", monthly_limit=2_000_000)
    resp = api.post(URL, chat_body(max_tokens=30), account=account)
    cost = resp.json()["usage"]["cost"]
    assert resp.status_code == 200 and cost == 580
    # when its owner opens the keys page and the key's own page
    client.force_login(account.user)
    html = client.get("/keys/").content.decode()
    edit = client.get(f"/keys/{account.key.pk}/edit/").content.decode()
    # then the spend is the credits charged ($0.00058), and the limited key's bar is at 0
    assert "$0.00058 / no limit" in html and "$0.00058 / no limit" in edit
    assert "$0.00 / $2.00" in html and 'max="2000000"' in html and 'value="0"' in html
