"""Which model and provider serve a request: the ``models`` fallback list and the
``provider`` preferences (order, only, ignore, allow_fallbacks, max_price). What served it
is what the response names and what is billed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from catalog.models import Provider, Route
from gateway.models import Generation
from tests.factories import FAKE_KEY_ENV, Account, AccountFactory, ModelFactory
from tests.fakes.upstream import FakeUpstream
from tests.helpers import ApiClient, assert_error, assert_not_charged, chat_body, cost_of
from tests.sse import ledger_verified, sse_chunks, stream_raw

START = 10_000_000


@pytest.fixture
def account(make_account: AccountFactory) -> Account:
    return make_account(START)


def provider_at(upstream: FakeUpstream, slug: str) -> Provider:
    return Provider.objects.create(
        slug=slug,
        name=slug.title(),
        dialect="openai",
        base_url=upstream.url + "/v1",
        api_key_env=FAKE_KEY_ENV,
    )


@pytest.fixture
def two_providers(make_model: ModelFactory, upstream: FakeUpstream) -> dict[str, Route]:
    """``test/duo`` served by providers alpha (preferred) and beta, both at the fake."""
    model = make_model("test/duo", upstream_models=(), prompt="20", completion="55")
    alpha, beta = provider_at(upstream, "alpha"), provider_at(upstream, "beta")
    return {
        "alpha": Route.objects.create(
            model=model, provider=alpha, upstream_model="echo", priority=100
        ),
        "beta": Route.objects.create(
            model=model, provider=beta, upstream_model="echo", priority=50
        ),
    }


def served_by(resp: Any) -> tuple[str, str]:
    body = resp.json()
    return body["model"], body["provider"]


# --- models: [...] ---------------------------------------------------------------------------


def test_unknown_primary_falls_back_to_the_listed_model(
    api: ApiClient, make_model: ModelFactory, account: Account, upstream: FakeUpstream
) -> None:
    # given a primary that does not exist and a listed fallback
    make_model("test/backup", prompt="40", completion="90")
    # when
    body = chat_body("test/gone", models=["test/backup"])
    resp = api.post("/v1/chat/completions", body, account=account)
    # then the fallback served, and is named and billed: 10 x 40 + 4 x 90
    assert resp.status_code == 200, resp.content
    assert served_by(resp) == ("test/backup", "Fake")
    assert resp.json()["usage"]["cost"] == 760
    assert account.balance() == START - 760
    ledger_verified(account)


def test_disabled_primary_falls_back_to_the_listed_model(
    api: ApiClient, make_model: ModelFactory, account: Account, upstream: FakeUpstream
) -> None:
    # given a disabled primary and a listed fallback
    make_model("test/off", prompt="1", completion="1", is_enabled=False)
    make_model("test/backup", prompt="40", completion="90")
    # when
    resp = api.post(
        "/v1/chat/completions", chat_body("test/off", models=["test/backup"]), account=account
    )
    # then only the fallback was called, and billed: 10 x 40 + 4 x 90
    assert served_by(resp) == ("test/backup", "Fake")
    assert account.balance() == START - 760
    assert len(upstream.requests) == 1


def test_failing_primary_falls_back_and_only_the_fallback_is_billed(
    api: ApiClient, make_model: ModelFactory, account: Account, upstream: FakeUpstream
) -> None:
    # given a cheap primary whose only route fails, and a dearer fallback
    make_model("test/primary", upstream_models=("fail-500",), prompt="1", completion="1")
    make_model("test/backup", prompt="40", completion="90")
    # when
    body = chat_body("test/primary", models=["test/backup"])
    resp = api.post("/v1/chat/completions", body, account=account)
    # then the fallback served at its own prices, charged once
    assert served_by(resp) == ("test/backup", "Fake")
    expected = cost_of(prompt_tokens=10, completion_tokens=4, prompt="40", completion="90")
    assert resp.json()["usage"]["cost"] == expected == 760
    assert account.balance() == START - expected
    gen = Generation.objects.get(request_id=resp.json()["id"])
    assert [(a["model"], a["status"]) for a in gen.attempts] == [
        ("test/primary", 500),
        ("test/backup", 200),
    ]
    assert gen.model == "test/backup"
    assert Decimal(gen.prices["prompt"]) == 40
    ledger_verified(account)


def test_failing_primary_falls_back_in_a_stream_too(
    api: ApiClient, make_model: ModelFactory, account: Account, upstream: FakeUpstream
) -> None:
    # given a primary whose streams fail before any byte
    make_model("test/primary", upstream_models=("stream-500",), prompt="1", completion="1")
    make_model("test/backup", prompt="40", completion="90")
    # when a stream is asked for
    _, raw = stream_raw(api, chat_body("test/primary", models=["test/backup"]), account)
    # then every chunk names the fallback, which alone is billed
    chunks = sse_chunks(raw)
    assert {c["model"] for c in chunks} == {"test/backup"}
    assert chunks[-1]["usage"]["cost"] == 760
    assert account.balance() == START - 760
    ledger_verified(account)


def test_every_listed_model_unknown_is_404(
    api: ApiClient, account: Account, upstream: FakeUpstream
) -> None:
    resp = api.post(
        "/v1/chat/completions", chat_body("test/gone", models=["test/none"]), account=account
    )
    assert_error(resp, 404, "model_not_available", "model")
    assert_not_charged(account, START)


def test_unknown_model_is_404_and_charges_nothing(
    api: ApiClient, account: Account, upstream: FakeUpstream
) -> None:
    resp = api.post("/v1/chat/completions", chat_body("nobody/nothing"), account=account)
    assert_error(resp, 404, "model_not_available", "model")
    assert upstream.requests == []
    assert_not_charged(account, START)


# --- provider: {...} -------------------------------------------------------------------------


def test_without_preferences_the_higher_priority_provider_serves(
    api: ApiClient, two_providers: dict[str, Route], account: Account
) -> None:
    resp = api.post("/v1/chat/completions", chat_body("test/duo"), account=account)
    assert served_by(resp) == ("test/duo", "Alpha")


@pytest.mark.parametrize(
    "prefs",
    [{"order": ["beta", "alpha"]}, {"only": ["beta"]}, {"ignore": ["alpha"]}],
    ids=["order", "only", "ignore"],
)
def test_preferences_choose_the_provider(
    api: ApiClient,
    two_providers: dict[str, Route],
    account: Account,
    upstream: FakeUpstream,
    prefs: dict[str, Any],
) -> None:
    # when the request prefers beta
    resp = api.post("/v1/chat/completions", chat_body("test/duo", provider=prefs), account=account)
    # then beta served, alone, and the record says so
    assert served_by(resp) == ("test/duo", "Beta")
    assert len(upstream.requests) == 1
    gen = Generation.objects.get(request_id=resp.json()["id"])
    assert (gen.provider, gen.route_id) == ("Beta", two_providers["beta"].pk)
    assert [a["provider"] for a in gen.attempts] == ["beta"]
    assert account.balance() == START - 420


def test_order_falls_back_to_other_providers_by_default(
    api: ApiClient, two_providers: dict[str, Route], account: Account, upstream: FakeUpstream
) -> None:
    # given alpha failing
    Route.objects.filter(pk=two_providers["alpha"].pk).update(upstream_model="fail-500")
    # when alpha is asked for first
    body = chat_body("test/duo", provider={"order": ["alpha"]})
    resp = api.post("/v1/chat/completions", body, account=account)
    # then beta stepped in
    assert served_by(resp) == ("test/duo", "Beta")
    assert [r["body"]["model"] for r in upstream.requests] == ["fail-500", "echo"]
    assert account.balance() == START - 420


@pytest.mark.parametrize(
    "prefs",
    [{"order": ["alpha"], "allow_fallbacks": False}, {"allow_fallbacks": False}],
    ids=["with-order", "primary-only"],
)
def test_no_fallbacks_means_the_failure_is_returned(
    api: ApiClient,
    two_providers: dict[str, Route],
    account: Account,
    upstream: FakeUpstream,
    prefs: dict[str, Any],
) -> None:
    # given alpha (the preferred provider) failing
    Route.objects.filter(pk=two_providers["alpha"].pk).update(upstream_model="fail-500")
    # when fallbacks are refused
    resp = api.post("/v1/chat/completions", chat_body("test/duo", provider=prefs), account=account)
    # then beta is never tried and nothing is charged
    assert_error(resp, 502, "provider_error")
    assert [r["body"]["model"] for r in upstream.requests] == ["fail-500"]
    assert_not_charged(account, START)
    ledger_verified(account)


@pytest.mark.parametrize(
    "prefs",
    [
        {"only": ["gamma"]},
        {"ignore": ["alpha", "beta"]},
        {"order": ["gamma"], "allow_fallbacks": False},
    ],
    ids=["only-unknown", "ignore-all", "order-unknown-no-fallbacks"],
)
def test_preferences_leaving_no_route_are_404_no_matching_route(
    api: ApiClient,
    two_providers: dict[str, Route],
    account: Account,
    upstream: FakeUpstream,
    prefs: dict[str, Any],
) -> None:
    # when the preferences rule out every route of the model
    resp = api.post("/v1/chat/completions", chat_body("test/duo", provider=prefs), account=account)
    # then nothing is tried and nothing charged: the client's own choice, not an outage
    assert_error(resp, 404, "no_matching_route")
    assert upstream.requests == []
    assert_not_charged(account, START)


def test_max_price_skips_models_priced_above_it(
    api: ApiClient, make_model: ModelFactory, account: Account, upstream: FakeUpstream
) -> None:
    # given a dear primary (20 USD per 1M prompt tokens) and a cheap fallback (1.5)
    make_model("test/dear", prompt="20", completion="55")
    make_model("test/cheap", prompt="1.5", completion="6.25")
    # when the request caps the prompt price at 10 USD per 1M tokens
    body = chat_body("test/dear", models=["test/cheap"], provider={"max_price": {"prompt": 10}})
    resp = api.post("/v1/chat/completions", body, account=account)
    # then the cheap one served, at its prices (the minimum charge here)
    assert served_by(resp) == ("test/cheap", "Fake")
    assert [r["body"]["model"] for r in upstream.requests] == ["echo"]
    assert account.balance() == START - cost_of(
        prompt_tokens=10, completion_tokens=4, prompt="1.5", completion="6.25"
    )


def test_max_price_below_every_model_is_404(
    api: ApiClient, make_model: ModelFactory, account: Account, upstream: FakeUpstream
) -> None:
    # given only a model dearer than the request's cap
    make_model("test/dear", prompt="20", completion="55")
    body = chat_body("test/dear", provider={"max_price": {"prompt": 1, "completion": 1}})
    # when
    resp = api.post("/v1/chat/completions", body, account=account)
    # then no route is left, and nothing was called or charged
    assert_error(resp, 404, "no_matching_route")
    assert upstream.requests == []
    assert_not_charged(account, START)
