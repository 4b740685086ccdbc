"""The charts' y axis: distinct whole-number labels in steps of 1, 2 or 5 times a power of
ten, reaching at least 4, so a tiny range never reads "1 credits, 0 credits, 0 credits"; the
credits labels carry the exact USD. Read from the served SVG's axis text."""

from __future__ import annotations

import datetime as dt
import itertools
import re

import pytest
from django.test import Client
from django.utils import timezone

from gateway.console.charts import credits_label, tokens_label, y_axis
from tests.factories import AccountFactory
from tests.usage.page_rows import generation_at

AXIS = re.compile(r'<g class="axis y[^"]*">(.*?)</g>\s*</g>', re.S)


def y_labels(svg: str) -> list[str]:
    """The y axis' label texts, bottom to top."""
    found = AXIS.search(svg)
    assert found, svg[:500]
    return re.findall(r"<text[^>]*>([^<]*)</text>", found.group(1))


def test_the_axis_steps_are_whole_numbers_reaching_the_top() -> None:
    assert y_axis(0) == [0, 1, 2, 3, 4]
    assert y_axis(1) == [0, 1, 2, 3, 4]
    assert y_axis(5) == [0, 1, 2, 3, 4, 5]
    assert y_axis(7) == [0, 2, 4, 6, 8]
    assert y_axis(37) == [0, 10, 20, 30, 40]
    assert y_axis(1_234_567) == [0, 500_000, 1_000_000, 1_500_000]
    for top in (*range(0, 300), 999, 10_001, 4_998_732):
        ticks = y_axis(top)
        assert ticks[0] == 0 and ticks[-1] >= max(top, 4)
        assert len(set(ticks)) == len(ticks) and 4 <= len(ticks) <= 11
        assert len({b - a for a, b in itertools.pairwise(ticks)}) == 1


def test_labels_say_credit_or_token_once_and_the_usd_exactly() -> None:
    assert credits_label(1) == "1 credit ($0.000001)"
    assert credits_label(0) == "0 credits ($0.00)"
    assert credits_label(1_500_000) == "1,500,000 credits ($1.50)"
    assert credits_label(1_234_567) == "1,234,567 credits ($1.234567)"
    assert tokens_label(1) == "1 token" and tokens_label(2_000) == "2,000 tokens"
    assert credits_label(None) == tokens_label(None) == ""


@pytest.mark.django_db
def test_a_tiny_spend_has_distinct_whole_credit_labels(make_account: AccountFactory) -> None:
    # given two requests today costing 1 credit each, of 3 tokens in all (prompt 2, output 1)
    account = make_account(1_000)
    now = timezone.now().astimezone(dt.UTC)
    for n in range(2):
        generation_at(
            account.user,
            now - dt.timedelta(minutes=n),
            key=account.key,
            cost=1,
            prompt_tokens=1,
            completion_tokens=1 if n else 0,
        )
    client = Client()
    client.force_login(account.user)
    # when the charts are drawn for 7 days
    spend = client.get("/usage/chart/spend.svg", {"period": "7"}).content.decode()
    tokens = client.get("/usage/chart/tokens.svg", {"period": "7"}).content.decode()
    # then each axis counts 0 to 4 in whole units, every label different
    assert y_labels(spend) == [
        "0 credits ($0.00)",
        "1 credit ($0.000001)",
        "2 credits ($0.000002)",
        "3 credits ($0.000003)",
        "4 credits ($0.000004)",
    ]
    assert y_labels(tokens) == ["0 tokens", "1 token", "2 tokens", "3 tokens", "4 tokens"]
    # and the phone's chart has the same axis
    small = client.get("/usage/chart/spend.svg", {"period": "7", "size": "small"})
    assert y_labels(small.content.decode())[-1] == "4 credits ($0.000004)"


def test_a_period_with_no_series_draws_the_no_data_text() -> None:
    # given a period whose requests were all free: days, but no group with a value
    import datetime as dt

    from gateway.console.charts import ChartTable, chart_svg, credits_label

    days = [dt.date(2026, 12, 1), dt.date(2026, 12, 2)]
    table = ChartTable(title="Spend", days=days, groups=[], values=[[], []])
    # then the chart renders (it raised AttributeError in pygal) and says there is no usage
    svg = chart_svg(table, label=credits_label)
    assert "No usage in this period" in svg


def test_the_unfiltered_page_names_the_period_it_shows() -> None:
    from gateway.console.filters import DEFAULT_PERIOD, PERIODS, UsageFilterForm

    # an unfiltered /usage/ shows the default 30 days: its select must say 30, not 7
    form = UsageFilterForm(None, key_choices=[])
    assert (form["period"].value(), PERIODS[DEFAULT_PERIOD]) == ("30", 30)
    assert 'value="30" selected' in str(form["period"])
