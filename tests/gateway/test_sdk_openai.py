"""The official ``openai`` SDK against a live server: what a developer's code sees, and what
the account is charged."""

from __future__ import annotations

from typing import Any

import openai
import pytest
import requests

from billing.models import LedgerEntry
from gateway.models import Generation
from tests.factories import Account, AccountFactory, ModelFactory
from tests.fakes.upstream import FakeUpstream
from tests.helpers import cost_of

START = 10_000_000
PROMPT, COMPLETION = "20", "55"

pytestmark = pytest.mark.usefixtures("transactional_db")


def sdk(live_server: Any, secret: str, prefix: str = "/v1") -> openai.OpenAI:
    return openai.OpenAI(base_url=live_server.url + prefix, api_key=secret, max_retries=0)


@pytest.fixture
def account(make_model: ModelFactory, make_account: AccountFactory) -> Account:
    make_model("test/echo", aliases=("echo",), prompt=PROMPT, completion=COMPLETION)
    return make_account(START)


@pytest.mark.parametrize("prefix", ["/v1", "/api/v1"])
def test_sdk_creates_a_completion_and_the_exact_cost_is_charged(
    live_server: Any, account: Account, upstream: FakeUpstream, prefix: str
) -> None:
    # given the SDK pointed at the gateway with the account's key
    client = sdk(live_server, account.secret, prefix)
    # when it asks for a completion of two messages
    completion = client.chat.completions.with_raw_response.create(
        model="test/echo",
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hello there gateway"},
        ],
        max_tokens=64,
        temperature=0.2,
    )
    result = completion.parse()
    # then the fake reported 2 x 10 prompt tokens and 4 words, priced 20 and 55 a token
    assert result.choices[0].message.content == "echo: hello there gateway"
    assert result.choices[0].finish_reason == "stop"
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (20, 4)
    expected = cost_of(prompt_tokens=20, completion_tokens=4, prompt=PROMPT, completion=COMPLETION)
    assert expected == 20 * 20 + 4 * 55 == 620
    assert account.balance() == START - expected
    assert account.held() == 0
    assert (result.usage.model_extra or {})["cost"] == expected
    # and the ids, model and provider say what served it
    assert result.id == completion.headers["x-request-id"]
    assert result.id.startswith("gen-")
    assert result.model == "test/echo"
    assert (result.model_extra or {})["provider"] == "Fake"
    entry = LedgerEntry.objects.get(kind=LedgerEntry.Kind.USAGE, reference=result.id)
    assert entry.amount == -expected
    assert Generation.objects.get(request_id=result.id).cost == expected
    sent = upstream.requests[-1]["body"]
    assert (sent["model"], sent["max_tokens"], sent["temperature"]) == ("echo", 64, 0.2)


def test_sdk_by_alias_reports_the_public_model(live_server: Any, account: Account) -> None:
    result = sdk(live_server, account.secret).chat.completions.create(
        model="echo", messages=[{"role": "user", "content": "hi"}]
    )
    assert result.model == "test/echo"
    assert result.usage is not None
    # "echo: hi" is 2 words: 10 x 20 + 2 x 55 = 310 credits
    expected = cost_of(prompt_tokens=10, completion_tokens=2, prompt=PROMPT, completion=COMPLETION)
    assert expected == 310
    assert account.balance() == START - expected


def test_sdk_with_a_wrong_key_raises_authentication_error(
    live_server: Any, account: Account
) -> None:
    client = sdk(live_server, "sk-000000000000-wrong")
    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(
            model="test/echo", messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert account.balance() == START and account.held() == 0


def test_sdk_sees_bad_parameters_as_bad_request_with_param(
    live_server: Any, account: Account
) -> None:
    client = sdk(live_server, account.secret)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="test/echo", messages=[{"role": "user", "content": "x"}], temperature=2.5
        )
    assert caught.value.code == "invalid_parameter"
    assert caught.value.param == "temperature"
    assert account.balance() == START and account.held() == 0


def test_sdk_sees_unknown_model_as_not_found(live_server: Any, account: Account) -> None:
    client = sdk(live_server, account.secret)
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(
            model="nobody/nothing", messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.code == "model_not_available"
    assert caught.value.param == "model"


def test_sdk_insufficient_credits_is_402(
    live_server: Any, make_model: ModelFactory, make_account: AccountFactory
) -> None:
    make_model("test/echo")
    poor = make_account(10)
    client = sdk(live_server, poor.secret)
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(
            model="test/echo", messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.status_code == 402
    assert caught.value.code == "insufficient_credits"
    assert poor.balance() == 10 and poor.held() == 0


def test_sdk_lists_models(live_server: Any, account: Account) -> None:
    ids = [m.id for m in sdk(live_server, account.secret).models.list()]
    assert ids == ["test/echo"]


def test_sdk_retrieves_one_model(live_server: Any, account: Account) -> None:
    client = sdk(live_server, account.secret)
    model = client.models.retrieve("test/echo")
    assert (model.id, model.object, model.owned_by) == ("test/echo", "model", "test")
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("test/missing")
    assert caught.value.code == "model_not_available"


def test_x_api_key_over_http(live_server: Any, account: Account) -> None:
    # given a plain HTTP client authenticating the Anthropic way
    resp = requests.post(
        live_server.url + "/v1/chat/completions",
        json={"model": "test/echo", "messages": [{"role": "user", "content": "hi"}]},
        headers={"x-api-key": account.secret},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["X-Request-Id"] == resp.json()["id"]
    assert account.balance() == START - 310
