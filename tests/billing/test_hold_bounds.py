"""The hold bounds every billable request: whatever a client puts in its body, and wherever,
a provider billing it as greedily as any honest one could (tests.fakes.greedy) is charged
in full, at the exact cost of the usage it reported, and never above the hold.

A breach (a cost above the hold) would be charged too, but logged and counted in
``gateway_hold_breaches_total``: these tests fail on any breach, on every surface and both
route dialects, streamed or not.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from catalog.models import Model, Provider, Route
from gateway.models import Generation
from tests.factories import Account, AccountFactory
from tests.fakes.greedy import GreedyAnthropicHandler, GreedyOpenAIHandler, GreedyServer
from tests.helpers import cost_of

PROMPT, COMPLETION = "2", "9"  # credits per token
GPT, CLAUDE = "greedy/gpt", "greedy/claude"
KEY_ENV = "GREEDY_UPSTREAM_KEY"


@pytest.fixture(scope="module")
def greedy_servers() -> Iterator[tuple[GreedyServer, GreedyServer]]:
    openai = GreedyServer(GreedyOpenAIHandler).start()
    anthropic = GreedyServer(GreedyAnthropicHandler).start()
    yield openai, anthropic
    openai.stop()
    anthropic.stop()


@pytest.fixture
def greedy(
    db: None, greedy_servers: tuple[GreedyServer, GreedyServer], monkeypatch: pytest.MonkeyPatch
) -> tuple[GreedyServer, GreedyServer]:
    monkeypatch.setenv(KEY_ENV, "greedy-secret")
    for server, slug, dialect, public_id, base in (
        (greedy_servers[0], "greedy-openai", "openai", GPT, "/v1"),
        (greedy_servers[1], "greedy-anthropic", "anthropic", CLAUDE, ""),
    ):
        provider = Provider.objects.create(
            slug=slug, name=slug, dialect=dialect, base_url=server.url + base, api_key_env=KEY_ENV
        )
        model = Model.objects.create(
            public_id=public_id,
            name=public_id,
            context_length=400_000,
            max_output_tokens=300,
            price_prompt=Decimal(PROMPT),
            price_completion=Decimal(COMPLETION),
            price_request=Decimal(0),
        )
        Route.objects.create(model=model, provider=provider, upstream_model="g", priority=1)
    return greedy_servers


def breaches() -> float:
    return REGISTRY.get_sample_value("gateway_hold_breaches_total") or 0.0


# --- bodies -------------------------------------------------------------------------------

texts = st.text(max_size=60)
bulk = st.one_of(st.just(""), st.integers(1, 40_000).map(lambda n: "x" * n), texts)
caps = st.one_of(
    st.just({}),
    st.integers(1, 40).map(lambda n: {"max_tokens": n}),
    st.integers(1, 40).map(lambda n: {"max_completion_tokens": n}),
    st.tuples(st.integers(1, 5), st.integers(6, 60)).map(
        lambda t: {"max_tokens": t[0], "max_completion_tokens": t[1]}
    ),
    st.integers(1, 40).map(lambda n: {"max_tokens": n, "max_output_tokens": 10 * n, "n": 1}),
)
IMAGE = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}


@st.composite
def chat_extras(draw: Any) -> dict[str, Any]:
    """Billable input outside ``messages``, each field optional."""
    extras: dict[str, Any] = {}
    big = draw(bulk)
    where = draw(
        st.sampled_from(["functions", "tools", "schema", "prediction", "extra", "steering", "none"])
    )
    if where == "functions":
        extras["functions"] = [{"name": "f", "description": big, "parameters": {"type": "object"}}]
    elif where == "tools":
        fn = {"name": "f", "description": big, "parameters": {"type": "object"}}
        extras["tools"] = [{"type": "function", "function": fn}]
    elif where == "schema":
        schema = {"type": "object", "description": big, "properties": {big[:50] or "p": {}}}
        extras["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "s", "schema": schema},
        }
    elif where == "prediction":
        extras["prediction"] = {"type": "content", "content": big}
    elif where == "extra":
        extras["web_search_options"] = {"user_location": {"approximate": {"city": big}}}
    elif where == "steering":
        extras[draw(st.sampled_from(["store", "seed", "top_a", "min_p"]))] = big
    return extras


@st.composite
def chat_message(draw: Any) -> dict[str, Any]:
    text = draw(texts)
    if draw(st.booleans()):
        return {"role": "user", "content": [{"type": "text", "text": text}, IMAGE]}
    return {"role": draw(st.sampled_from(["user", "system"])), "content": text or "hi"}


@st.composite
def request_of(draw: Any) -> tuple[str, dict[str, Any], bool]:
    """(path, body, streamed) for one surface and one route dialect."""
    surface = draw(st.sampled_from(["chat", "completions", "responses", "messages", "embed"]))
    model = draw(st.sampled_from([GPT, CLAUDE]))
    stream = surface != "embed" and draw(st.booleans())
    cap = draw(caps)
    if surface == "chat":
        messages = draw(st.lists(chat_message(), min_size=1, max_size=3))
        body = {"model": model, "messages": messages, **cap, **draw(chat_extras())}
        return "/v1/chat/completions", {**body, "stream": stream}, stream
    if surface == "completions":
        body = {"model": model, "prompt": draw(bulk) or "hi", **cap, "stream": stream}
        if draw(st.booleans()):
            body["best_of"] = draw(st.integers(1, 3))
        return "/v1/completions", body, stream
    if surface == "responses":
        limit = {"max_output_tokens": cap["max_tokens"]} if "max_tokens" in cap else {}
        body = {"model": model, "input": draw(bulk) or "hi", **limit, "stream": stream}
        if draw(st.booleans()):
            body["instructions"] = draw(bulk)
        if draw(st.booleans()):
            fmt = {"type": "json_schema", "name": "s", "schema": {"description": draw(bulk)}}
            body["text"] = {"format": fmt}
        return "/v1/responses", body, stream
    if surface == "messages":
        content: list[dict[str, Any]] = [{"type": "text", "text": draw(texts) or "hi"}]
        big = draw(bulk)
        if draw(st.booleans()):
            source = {"type": "text", "media_type": "text/plain", "data": big or "doc"}
            content.append({"type": "document", "source": source})
        body = {
            "model": model,
            "max_tokens": cap.get("max_tokens", 20),
            "messages": [{"role": "user", "content": content}],
            "stream": stream,
        }
        if "max_completion_tokens" in cap:
            body["max_completion_tokens"] = cap["max_completion_tokens"]
        if draw(st.booleans()):
            body["system"] = [{"type": "text", "text": big}]
        if draw(st.booleans()):
            body["tools"] = [{"name": "t", "description": big, "input_schema": {"type": "object"}}]
        return "/v1/messages", body, stream
    inputs = draw(st.lists(bulk.filter(bool), min_size=1, max_size=3))
    return "/v1/embeddings", {"model": GPT, "input": inputs}, False


# --- the property ---------------------------------------------------------------------------


def _send(account: Account, path: str, body: dict[str, Any], streamed: bool) -> int:
    client = Client()
    resp = client.post(path, data=body, content_type="application/json", **account.headers)
    if streamed and resp.status_code == 200:
        b"".join(resp.streaming_content)
    return resp.status_code


@pytest.mark.django_db(transaction=True)
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=request_of())
def test_the_charge_is_the_exact_cost_of_what_a_greedy_upstream_billed(
    request: tuple[str, dict[str, Any], bool],
    greedy: tuple[GreedyServer, GreedyServer],
    make_account: AccountFactory,
) -> None:
    path, body, streamed = request
    account = make_account(10_000_000_000)
    before, breached = account.balance(), breaches()
    reported = [len(server.reported) for server in greedy]
    # when the request is served by a greedy upstream
    status = _send(account, path, body, streamed)
    calls = [server.reported[n:] for server, n in zip(greedy, reported, strict=True)]
    billed = [usage for call in calls for usage in call]
    # then a refused request is not charged, and a served one is charged exactly what the
    # upstream billed, never capped at (or above) the hold
    assert breaches() == breached, (path, body)
    assert account.held() == 0
    if status != 200:
        assert 400 <= status < 500, (status, path, body)
        assert account.balance() == before
        return
    assert len(billed) == 1, billed
    prompt, completion = billed[0]
    expected = cost_of(
        prompt_tokens=prompt, completion_tokens=completion, prompt=PROMPT, completion=COMPLETION
    )
    assert before - account.balance() == expected, (path, body, billed)
    record = Generation.objects.filter(user=account.user).get()
    assert (record.cost, record.prompt_tokens, record.completion_tokens) == (
        expected,
        prompt,
        completion,
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("model", [GPT, CLAUDE])
@pytest.mark.parametrize(
    ("path", "extra"),
    [
        ("/v1/chat/completions", {"functions": [{"name": "f", "description": "x" * 300_000}]}),
        (
            "/v1/chat/completions",
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "s", "schema": {"description": "x" * 300_000}},
                }
            },
        ),
        ("/v1/chat/completions", {"prediction": {"type": "content", "content": "x" * 300_000}}),
        ("/v1/chat/completions", {"max_tokens": 1, "max_completion_tokens": 64}),
        ("/v1/messages", {"max_tokens": 1, "max_completion_tokens": 64}),
        (
            "/v1/messages",
            {
                "max_tokens": 5,
                "system": [{"type": "text", "text": "x" * 300_000}],
            },
        ),
    ],
)
def test_the_probe_s_undercounted_requests_are_charged_in_full(
    path: str,
    extra: dict[str, Any],
    model: str,
    greedy: tuple[GreedyServer, GreedyServer],
    make_account: AccountFactory,
) -> None:
    # given the reproducers of the probe: 300 KB outside messages, or a second output cap
    account = make_account(10_000_000_000)
    before, breached = account.balance(), breaches()
    content: Any = "hi"
    body = {"model": model, "messages": [{"role": "user", "content": content}], **extra}
    if path == "/v1/messages":
        body.setdefault("max_tokens", 5)
    # when it is served
    assert _send(account, path, body, streamed=False) == 200
    # then it is charged what the upstream billed, and the hold covered it
    server = greedy[0] if model == GPT else greedy[1]
    prompt, completion = server.reported[-1]
    if path == "/v1/messages" and "max_completion_tokens" in extra:
        assert completion == 1  # the one cap sent upstream is the max_tokens held for
    expected = cost_of(
        prompt_tokens=prompt, completion_tokens=completion, prompt=PROMPT, completion=COMPLETION
    )
    assert before - account.balance() == expected
    assert breaches() == breached


BIG = "a" * 20_000


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("path", "model", "body"),
    [
        ("/v1/embeddings", GPT, {"input": "abc", "temperature": BIG}),
        ("/v1/embeddings", GPT, {"input": "abc", "seed": [BIG]}),
        (
            "/v1/chat/completions",
            GPT,
            {"messages": [{"role": "user", "content": "x"}], "store": BIG},
        ),
        (
            "/v1/messages",
            CLAUDE,
            {"messages": [{"role": "user", "content": "x"}], "max_tokens": 5, "top_a": BIG},
        ),
        (
            "/v1/messages",
            CLAUDE,
            {
                "messages": [{"role": "user", "content": "x"}],
                "max_tokens": 5,
                "prediction": {"type": "content", "content": "p" * 3_000},
            },
        ),
    ],
)
def test_text_in_a_steering_field_or_a_native_prediction_is_bounded_or_refused(
    path: str,
    model: str,
    body: dict[str, Any],
    greedy: tuple[GreedyServer, GreedyServer],
    make_account: AccountFactory,
) -> None:
    # given text where a number belongs, or a prediction on the Anthropic surface
    account = make_account(10_000_000_000)
    before, breached = account.balance(), breaches()
    server = greedy[0] if model == GPT else greedy[1]
    calls = len(server.reported)
    # when it is sent
    status = _send(account, path, {"model": model, **body}, streamed=False)
    # then it is refused before anything is held, or served and charged what was billed
    assert breaches() == breached
    if status != 200:
        assert status == 400 and account.balance() == before
        assert len(server.reported) == calls
        return
    prompt, completion = server.reported[-1]
    expected = cost_of(
        prompt_tokens=prompt, completion_tokens=completion, prompt=PROMPT, completion=COMPLETION
    )
    assert before - account.balance() == expected
