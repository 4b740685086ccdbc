"""A request routed to the caller's own provider: it reaches the user's upstream with the
user's key, is recorded like any other, and is charged only the fee (a percent of the
listed price); another user's provider is an unknown provider and never contacted."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from billing.models import Hold, LedgerEntry
from gateway.models import Generation
from gateway.pipeline import health
from gateway.self_route.services import apikey_self_route_set
from tests.factories import ANTHROPIC_SECRET, FAKE_SECRET, Account, AccountFactory, ModelFactory
from tests.fakes.upstream import FakeUpstream
from tests.helpers import ApiClient, assert_error, assert_not_charged, chat_body
from tests.self_route.conftest import START, USER_KEY, ProviderFactory
from tests.sse import ledger_verified, sse_chunks, stream_raw

pytestmark = pytest.mark.django_db

ONLY_HOME = {"provider": {"only": ["my-home"]}}


def assert_free(account: Account) -> None:
    """Balance unchanged and nothing held; the one usage entry a settled record has is 0."""
    assert (account.balance(), account.held()) == (START, 0)
    amounts = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.USAGE).values_list(
        "amount", flat=True
    )
    assert list(amounts) == [0]
    assert Hold.objects.count() == 0
    ledger_verified(account)


def auths(upstream: FakeUpstream) -> list[str]:
    return [r["headers"].get("Authorization", "") for r in upstream.requests]


def test_only_my_provider_reaches_it_with_the_users_key_and_charges_nothing_at_zero_fee(
    api: ApiClient, owner: Account, priced: Any, make_own: ProviderFactory, upstream: FakeUpstream
) -> None:
    # given a provider of the owner's own, and the default fee of 0 %
    own = make_own(owner)
    # when a request names it
    resp = api.post("/v1/chat/completions", chat_body(**ONLY_HOME), account=owner)
    # then the user's upstream got it with the user's key, under the route's upstream name
    assert resp.status_code == 200, resp.content
    assert auths(upstream) == [f"Bearer {USER_KEY}"]
    assert upstream.requests[0]["body"]["model"] == "echo"
    body = resp.json()
    assert body["provider"] == "my-home"
    assert body["choices"][0]["message"]["content"] == "echo: one two three"
    assert body["usage"]["cost"] == 0
    # and it is recorded, cost 0, naming the provider; nothing charged, nothing held
    gen = Generation.objects.get()
    assert (gen.status, gen.cost, gen.provider, gen.route_id) == ("success", 0, "my-home", None)
    assert (gen.prompt_tokens, gen.completion_tokens) == (10, 4)
    assert gen.attempts[0]["route"] == -own.pk
    assert_free(owner)
    # and its breaker is the negative route id's
    assert health.route_health([-own.pk])[-own.pk].failures == 0


@pytest.mark.parametrize(
    ("fee", "prompt", "expected"),
    [
        ("10", "1500", 4_000),  # 10 % of 10 x 1500 + 4 x 6250 = 40,000
        ("12.5", "1500", 5_000),
        ("10", "1500.1", 4_001),  # 4,000.1 rounds up to a whole credit
        ("100", "1500", 40_000),
        ("0.1", "1500", 100),  # 40 credits: the minimum charge (BILLING_MIN_CHARGE, 100)
    ],
)
def test_the_fee_is_that_percent_of_the_listed_price_held_and_settled_exactly(
    api: ApiClient,
    make_account: AccountFactory,
    make_model: ModelFactory,
    make_own: ProviderFactory,
    settings: Any,
    fee: str,
    prompt: str,
    expected: int,
) -> None:
    settings.GATEWAY_SELF_ROUTE_FEE_PERCENT = Decimal(fee)
    make_model("test/big", prompt=prompt, completion="6250")
    account = make_account(START)
    make_own(account)
    resp = api.post(
        "/v1/chat/completions", chat_body("test/big", max_tokens=50, **ONLY_HOME), account=account
    )
    assert resp.status_code == 200, resp.content
    assert resp.json()["usage"]["cost"] == expected
    assert account.balance() == START - expected
    assert account.held() == 0
    gen = Generation.objects.get()
    assert (gen.cost, gen.provider) == (expected, "my-home")
    entry = LedgerEntry.objects.get(kind=LedgerEntry.Kind.USAGE)
    assert entry.amount == -expected
    assert Hold.objects.count() == 0
    ledger_verified(account)


def test_the_keys_default_provider_serves_requests_naming_none(
    api: ApiClient, owner: Account, priced: Any, make_own: ProviderFactory, upstream: FakeUpstream
) -> None:
    own = make_own(owner)
    apikey_self_route_set(api_key=owner.key, provider=own)
    resp = api.post("/v1/chat/completions", chat_body(), account=owner)
    assert resp.status_code == 200, resp.content
    assert resp.json()["provider"] == "my-home"
    assert auths(upstream) == [f"Bearer {USER_KEY}"]
    # naming a catalog provider still goes to the catalog
    resp = api.post("/v1/chat/completions", chat_body(provider={"only": ["fake"]}), account=owner)
    assert resp.status_code == 200, resp.content
    assert resp.json()["provider"] == "Fake"
    assert auths(upstream)[-1] == f"Bearer {FAKE_SECRET}"


def test_another_users_provider_is_an_unknown_provider_and_never_contacted(
    api: ApiClient,
    owner: Account,
    make_account: AccountFactory,
    priced: Any,
    make_own: ProviderFactory,
    upstream: FakeUpstream,
) -> None:
    make_own(owner, "secret box")
    stranger = make_account(START)
    theirs = api.post(
        "/v1/chat/completions", chat_body(provider={"only": ["my-secret-box"]}), account=stranger
    )
    unknown = api.post(
        "/v1/chat/completions", chat_body(provider={"only": ["my-nothing"]}), account=stranger
    )
    first = assert_error(theirs, 404, "no_matching_route")
    assert first == assert_error(unknown, 404, "no_matching_route")
    assert upstream.requests == []
    assert_not_charged(stranger, START)
    # and another user's provider as a key default is refused
    from catalog.models import UserProvider
    from config.errors import DomainError

    with pytest.raises(DomainError):
        apikey_self_route_set(api_key=stranger.key, provider=UserProvider.objects.get())


def test_mixing_own_and_catalog_providers_is_refused_before_anything_is_held(
    api: ApiClient, owner: Account, priced: Any, make_own: ProviderFactory, upstream: FakeUpstream
) -> None:
    make_own(owner)
    resp = api.post(
        "/v1/chat/completions",
        chat_body(provider={"only": ["my-home", "fake"]}),
        account=owner,
    )
    assert_error(resp, 400, "invalid_parameter", "provider.only")
    assert upstream.requests == []
    assert_not_charged(owner, START)


def test_a_stream_through_my_provider_is_recorded_and_charged_the_fee(
    api: ApiClient,
    owner: Account,
    priced: Any,
    make_own: ProviderFactory,
    upstream: FakeUpstream,
    settings: Any,
) -> None:
    settings.GATEWAY_SELF_ROUTE_FEE_PERCENT = Decimal("100")
    make_own(owner)
    resp, raw = stream_raw(api, chat_body(max_tokens=50, **ONLY_HOME), owner)
    assert resp.status_code == 200
    chunks = sse_chunks(raw)
    assert (
        "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c.get("choices"))
        == "echo: one two three"
    )
    usage = chunks[-1]["usage"]
    # 100 % of the listed 10 x 1.5 + 4 x 6.25 = 40 credits: the minimum charge, 100
    assert usage["cost"] == 100
    assert auths(upstream) == [f"Bearer {USER_KEY}"]
    gen = Generation.objects.get()
    assert (gen.status, gen.cost, gen.provider, gen.is_streamed) == (
        "success",
        100,
        "my-home",
        True,
    )
    assert owner.balance() == START - 100
    ledger_verified(owner)


def test_a_stream_at_zero_fee_charges_nothing(
    api: ApiClient, owner: Account, priced: Any, make_own: ProviderFactory
) -> None:
    make_own(owner)
    resp, raw = stream_raw(api, chat_body(**ONLY_HOME), owner)
    assert resp.status_code == 200
    assert sse_chunks(raw)[-1]["usage"]["cost"] == 0
    assert Generation.objects.get().provider == "my-home"
    assert_free(owner)


def test_an_unreadable_key_is_refused_without_calling_or_charging(
    api: ApiClient,
    owner: Account,
    priced: Any,
    make_own: ProviderFactory,
    upstream: FakeUpstream,
    settings: Any,
) -> None:
    make_own(owner)
    settings.GATEWAY_PROVIDER_KEYS_SECRET = ["a-different-secret"]
    resp = api.post("/v1/chat/completions", chat_body(**ONLY_HOME), account=owner)
    assert_error(resp, 503, "provider_not_configured")
    assert upstream.requests == []
    assert_not_charged(owner, START)


def test_an_anthropic_provider_of_ones_own_takes_the_messages_body_natively(
    api: ApiClient,
    owner: Account,
    make_model: ModelFactory,
    anthropic_provider: Any,
    anthropic_upstream: Any,
    make_own: ProviderFactory,
) -> None:
    # given a Claude model in the catalog and the user's own Anthropic-dialect upstream
    make_model("test/claude", upstream_models=("claude",), route_provider=anthropic_provider)
    make_own(
        owner,
        "claude box",
        key=ANTHROPIC_SECRET,
        dialect="anthropic",
        base_url=anthropic_upstream.url,
    )
    resp = api.post(
        "/v1/messages",
        {
            "model": "test/claude",
            "max_tokens": 50,
            "messages": [{"role": "user", "content": "hello there"}],
            "provider": {"only": ["my-claude-box"]},
        },
        account=owner,
    )
    assert resp.status_code == 200, resp.content
    sent = anthropic_upstream.requests[-1]
    assert sent["headers"].get("x-api-key") == ANTHROPIC_SECRET
    assert sent["body"]["model"] == "claude"
    gen = Generation.objects.get()
    assert (gen.provider, gen.cost, gen.surface) == ("my-claude-box", 0, "messages")
    assert_free(owner)
