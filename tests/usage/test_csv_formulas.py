"""The CSV export and formula injection: a text cell a spreadsheet would read as a formula
(starting with =, +, -, @, a tab or a carriage return) is written with a leading quote, so it
shows as typed; numeric columns are written as numbers, untouched (the database keeps them
non-negative, and they never pass through ``text_cell``, so a minus sign there would stay)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.test import Client

from accounts.services import apikey_create, user_create
from gateway.console.export import text_cell
from tests.usage.page_rows import generation_at

pytestmark = pytest.mark.django_db

NAMES = {
    '=HYPERLINK("http://evil.example","x")': '\'=HYPERLINK("http://evil.example","x")',
    "+1+2": "'+1+2",
    "-2+3": "'-2+3",
    "@SUM(A1:A9)": "'@SUM(A1:A9)",
    "\tcmd": "'\tcmd",
    "\rcmd": "'\rcmd",
    "laptop = main": "laptop = main",
    "ci, nightly": "ci, nightly",
}


@pytest.mark.parametrize(("typed", "written"), list(NAMES.items()))
def test_a_formula_start_gets_a_quote(typed: str, written: str) -> None:
    assert text_cell(typed) == written


def test_key_names_and_models_are_neutralised_and_numbers_stay_numbers() -> None:
    user = user_create(email="formulas@example.com", password="correct-horse-battery-staple-9")
    client = Client()
    client.force_login(user)
    moment = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)
    names = [*list(NAMES)[:3], "\tcmd", "laptop = main"]  # a tier allows 5 keys
    for n, name in enumerate(names):
        key = apikey_create(user=user, name=name).api_key
        generation_at(
            user,
            moment - dt.timedelta(minutes=n),
            key=key,
            # a refused request records the model as the caller typed it
            model="=1+1" if n == 0 else "-acme/neg",
            provider="@fake",
            prompt_tokens=120 + n,
            completion_tokens=7,
            cost=1_000_001 + n,
            latency_ms=55,
        )
    resp = client.get("/usage/export.csv", {"period": "7"})
    assert resp.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(resp.streaming_content).decode())))
    assert len(rows) == 1 + len(names)
    body = rows[1:]
    assert [r[2] for r in body] == [NAMES[name] for name in names]
    assert [r[4] for r in body] == ["'=1+1"] + ["'-acme/neg"] * (len(names) - 1)
    assert {r[5] for r in body} == {"'@fake"}
    # the numeric columns: plain digits, no quote
    assert [r[8] for r in body] == [str(120 + n) for n in range(len(names))]
    assert [r[10] for r in body] == [str(1_000_001 + n) for n in range(len(names))]
    assert [r[11] for r in body] == [f"{(1_000_001 + n) / 1e6:.6f}" for n in range(len(names))]
    assert {r[12] for r in body} == {"55"}
    # no cell of the file starts a formula any more
    starts = ("=", "+", "-", "@", "\t", "\r")
    assert not [c for r in body for c in r if c.startswith(starts)]
