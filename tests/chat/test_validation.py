"""Parameter ranges of the chat request, one boundary per case: a bad value is 400
``invalid_parameter`` naming the param and charges nothing; a good one reaches the upstream
unchanged and is billed normally."""

from __future__ import annotations

from typing import Any

import pytest

from billing.models import Hold, LedgerEntry
from tests.factories import Account, AccountFactory, ModelFactory
from tests.fakes.upstream import FakeUpstream
from tests.helpers import ApiClient, assert_error, assert_not_charged, chat_body, cost_of

START = 10_000_000
CONTEXT = 1_000

BAD: list[tuple[str, Any]] = [
    ("temperature", -0.01),
    ("temperature", 2.01),
    ("top_p", 0),
    ("top_k", 0),
    ("frequency_penalty", -2.01),
    ("frequency_penalty", 2.01),
    ("presence_penalty", -2.01),
    ("presence_penalty", 2.01),
    ("repetition_penalty", 0),
    ("repetition_penalty", 2.01),
    ("min_p", -0.01),
    ("min_p", 1.01),
    ("top_a", -0.01),
    ("top_a", 1.01),
    ("max_tokens", 0),
    ("max_tokens", CONTEXT),
    ("stop", ["a", "b", "c", "d", "e"]),
    ("logit_bias", {"50256": 101}),
    ("response_format", {"type": "xml"}),
    ("tool_choice", "sometimes"),
    ("stream", "yes"),
]

GOOD: list[tuple[str, Any]] = [
    ("temperature", 0),
    ("temperature", 2),
    ("top_p", 1),
    ("top_k", 1),
    ("frequency_penalty", -2),
    ("frequency_penalty", 2),
    ("presence_penalty", -2),
    ("presence_penalty", 2),
    ("repetition_penalty", 2),
    ("min_p", 0),
    ("min_p", 1),
    ("top_a", 0),
    ("top_a", 1),
    ("max_tokens", CONTEXT - 1),
    ("stop", ["a", "b", "c", "d"]),
    ("logit_bias", {"50256": 100}),
    (
        "response_format",
        {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True},
        },
    ),
    ("tool_choice", "none"),
    ("stream", False),
]


@pytest.fixture
def account(make_model: ModelFactory, make_account: AccountFactory) -> Account:
    make_model("test/echo", context_length=CONTEXT, prompt="20", completion="55")
    return make_account(START)


def case_id(case: tuple[str, Any]) -> str:
    return f"{case[0]}={case[1]!r}"


@pytest.mark.parametrize("case", BAD, ids=case_id)
def test_value_outside_the_range_is_invalid_parameter_and_charges_nothing(
    api: ApiClient, account: Account, upstream: FakeUpstream, case: tuple[str, Any]
) -> None:
    # given a request with one parameter just outside its documented range
    name, value = case
    # when
    resp = api.post("/v1/chat/completions", chat_body(**{name: value}), account=account)
    # then 400 invalid_parameter naming it, the upstream never called, nothing charged
    error = assert_error(resp, 400, "invalid_parameter", name)
    assert name in error["message"]
    assert upstream.requests == []
    assert_not_charged(account, START)
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.USAGE).count() == 0
    assert Hold.objects.count() == 0


@pytest.mark.parametrize("case", GOOD, ids=case_id)
def test_value_on_the_boundary_is_accepted_and_reaches_the_upstream_unchanged(
    api: ApiClient, account: Account, upstream: FakeUpstream, case: tuple[str, Any]
) -> None:
    # given a request with one parameter on the edge of its range
    name, value = case
    # when
    resp = api.post("/v1/chat/completions", chat_body(**{name: value}), account=account)
    # then it is served, the upstream got the value as sent, and the usage was charged
    assert resp.status_code == 200, resp.content
    sent = upstream.requests[-1]["body"]
    assert sent[name] == value
    assert type(sent[name]) is type(value)
    expected = cost_of(prompt_tokens=10, completion_tokens=4, prompt="20", completion="55")
    assert resp.json()["usage"]["cost"] == expected == 420
    assert account.balance() == START - expected and account.held() == 0


def test_unknown_fields_pass_through_to_the_upstream(
    api: ApiClient, account: Account, upstream: FakeUpstream
) -> None:
    # given fields the gateway does not know
    extra = {"vendor_option": {"mode": "fast", "level": 3}, "seed": 7, "safe_prompt": True}
    # when
    resp = api.post("/v1/chat/completions", chat_body(**extra), account=account)
    # then they reach the upstream unchanged; the gateway's own fields do not
    assert resp.status_code == 200, resp.content
    sent = upstream.requests[-1]["body"]
    assert {k: sent[k] for k in extra} == extra
    assert sent["messages"] == chat_body()["messages"]
    assert sent["model"] == "echo"


def test_routing_fields_are_not_sent_upstream(
    api: ApiClient, account: Account, upstream: FakeUpstream
) -> None:
    # given the gateway's own routing fields in a request
    body = chat_body(models=["test/echo"], provider={"sort": "price"}, transforms=[])
    # when
    resp = api.post("/v1/chat/completions", body, account=account)
    # then the upstream sees none of them
    assert resp.status_code == 200, resp.content
    sent = upstream.requests[-1]["body"]
    assert not {"models", "provider", "transforms"} & set(sent)
