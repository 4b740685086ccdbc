"""/metrics counts each recorded request once, by the numbers its record holds: a billed
chat request, a stream's time to first token, refusals (the client's model name bounded to
the catalog's), a provider's refusal after the hold, and the gauges read at scrape time."""

from __future__ import annotations

import json

import pytest

from billing.services import credits_release, credits_reserve
from gateway.models import Generation
from gateway.pipeline import routing
from tests.factories import Account, AccountFactory, ModelFactory
from tests.helpers import ApiClient, chat_body
from tests.ops.scrape import scrape, value

pytestmark = pytest.mark.usefixtures("transactional_db")

SURFACE = "chat.completions"


@pytest.fixture
def account(make_model: ModelFactory, make_account: AccountFactory) -> Account:
    make_model("test/echo", prompt="20", completion="55")
    make_model("test/cached", upstream_models=("cached",), prompt="20", completion="55")
    make_model("test/bad", upstream_models=("fail-400",))
    return make_account(10_000_000)


def requests_of(text: str, model: str, status: str, surface: str = SURFACE) -> float:
    return value(text, "gateway_requests_total", surface=surface, model=model, status=status)


def test_a_billed_request_moves_each_metric_by_its_record(api: ApiClient, account: Account) -> None:
    # given a scrape before
    before = scrape()
    # when one billed chat request is served, with cached and reasoning tokens
    resp = api.post("/v1/chat/completions", chat_body("test/cached"), account=account)
    assert resp.status_code == 200, resp.content
    gen = Generation.objects.get(request_id=resp.json()["id"])
    assert gen.cost > 0 and gen.cached_tokens == 5 and gen.reasoning_tokens == 3
    after = scrape()

    # then its labels moved by exactly 1, and no other status did
    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert (
        requests_of(after, "test/cached", "success") - requests_of(before, "test/cached", "success")
        == 1
    )
    assert requests_of(after, "test/cached", "error") == requests_of(before, "test/cached", "error")
    # and the tokens and credits by what its record holds
    assert moved("gateway_tokens_total", kind="input") == gen.prompt_tokens
    assert moved("gateway_tokens_total", kind="output") == gen.completion_tokens
    assert moved("gateway_tokens_total", kind="cached") == 5
    assert moved("gateway_tokens_total", kind="reasoning") == 3
    assert moved("gateway_credits_charged_total") == gen.cost
    # and one request duration and one upstream attempt were observed, no first token
    assert moved("gateway_request_duration_seconds_count", surface=SURFACE) == 1
    assert moved("gateway_request_duration_seconds_sum", surface=SURFACE) == pytest.approx(
        gen.latency_ms / 1000
    )
    assert moved("gateway_upstream_duration_seconds_count", surface=SURFACE) == 1
    assert moved("gateway_time_to_first_token_seconds_count", surface=SURFACE) == 0


def test_a_streams_time_to_first_token_is_observed(api: ApiClient, account: Account) -> None:
    before = scrape()
    # when a stream is served to its end
    resp = api.post(
        "/v1/chat/completions",
        chat_body("test/echo", stream=True, stream_options={"include_usage": True}),
        account=account,
    )
    assert resp.status_code == 200
    body = b"".join(resp.streaming_content).decode()
    assert body.rstrip().endswith("data: [DONE]")
    gen = Generation.objects.get(request_id=resp["X-Request-Id"])
    assert gen.is_streamed and gen.ttft_ms is not None
    after = scrape()
    # then one first token was observed, at its record's time, and the request counted once
    ttft = "gateway_time_to_first_token_seconds"
    assert (
        value(after, f"{ttft}_count", surface=SURFACE)
        - value(before, f"{ttft}_count", surface=SURFACE)
        == 1
    )
    assert value(after, f"{ttft}_sum", surface=SURFACE) - value(
        before, f"{ttft}_sum", surface=SURFACE
    ) == pytest.approx(gen.ttft_ms / 1000)
    assert (
        requests_of(after, "test/echo", "success") - requests_of(before, "test/echo", "success")
        == 1
    )
    assert (
        value(after, "gateway_credits_charged_total")
        - value(before, "gateway_credits_charged_total")
        == gen.cost
    )


def test_refusals_are_counted_once_with_the_catalogs_model_or_other(
    api: ApiClient, account: Account, make_account: AccountFactory
) -> None:
    poor = make_account(0)
    before = scrape()
    # when a request is refused for want of credits, and one names no model of the catalog
    assert api.post("/v1/chat/completions", chat_body(), account=poor).status_code == 402
    names = [f"nope/{i}" for i in range(3)]
    for name in names:
        resp = api.post("/v1/chat/completions", chat_body(name), account=account)
        assert resp.status_code in (400, 404), resp.content
    after = scrape()
    # then each is one refused request: under its model, or all under "other"
    assert (
        requests_of(after, "test/echo", "refused") - requests_of(before, "test/echo", "refused")
        == 1
    )
    assert requests_of(after, "other", "refused") - requests_of(before, "other", "refused") == 3
    assert all(f'model="{n}"' not in after for n in names)
    # and nothing was charged
    assert value(after, "gateway_credits_charged_total") == value(
        before, "gateway_credits_charged_total"
    )


def test_a_provider_refusal_after_the_hold_is_counted_once(
    api: ApiClient, account: Account
) -> None:
    before = scrape()
    # when the provider refuses the request (400) after its hold was taken
    resp = api.post("/v1/chat/completions", chat_body("test/bad"), account=account)
    assert resp.status_code == 400, resp.content
    gen = Generation.objects.get(request_id=resp["X-Request-Id"])
    assert (gen.status, gen.cost) == ("error", 0)
    after = scrape()
    # then it counts once, as its record says (an error), not again as a refusal
    assert requests_of(after, "test/bad", "error") - requests_of(before, "test/bad", "error") == 1
    assert requests_of(after, "test/bad", "refused") == requests_of(before, "test/bad", "refused")


def test_open_holds_and_the_breakers_are_read_at_scrape_time(
    api: ApiClient, account: Account
) -> None:
    # given two holds open
    holds = [
        credits_reserve(
            account_id=account.user.credit_account.pk,
            api_key_id=account.key.pk,
            monthly_limit=None,
            amount=amount,
            request_id=f"gen-metrics-{amount}",
            ttl_seconds=60,
        )
        for amount in (1_500, 2_500)
    ]
    # and a route whose breaker opened
    route = account_route("test/bad")
    for _ in range(10):
        routing.route_record(route, ok=False)
    text = scrape()
    # then the scrape shows them
    assert value(text, "gateway_holds_open") == 2
    assert value(text, "gateway_held_credits") == 4_000
    bad = {"route": str(route), "provider": "fake", "model": "test/bad"}
    assert value(text, "gateway_route_circuit_open", **bad) == 1
    line = f'gateway_route_failures{{model="test/bad",provider="fake",route="{route}"}}'
    assert line in text
    echo = {"route": str(account_route("test/echo")), "provider": "fake", "model": "test/echo"}
    assert 'gateway_route_circuit_open{model="test/echo",provider="fake",route=' in text
    assert value(text, "gateway_route_circuit_open", **echo) == 0
    for hold in holds:
        credits_release(hold=hold)
    text = scrape()
    assert (value(text, "gateway_holds_open"), value(text, "gateway_held_credits")) == (0, 0)


def account_route(model: str) -> int:
    from catalog.models import Route

    return Route.objects.get(model__public_id=model).pk


def test_metrics_answers_only_reads(api: ApiClient) -> None:
    for method in ("post", "put", "delete"):
        resp = getattr(api.client, method)("/metrics")
        assert resp.status_code == 405
        assert json.loads(resp.content)["error"]["code"] == "method_not_allowed"
