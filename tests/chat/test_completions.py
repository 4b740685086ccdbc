"""``POST /v1/completions`` (legacy text completions) through the SDK, served by the chat
path: the prompt becomes one user message, the answer comes back as ``choices[].text``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pytest

from catalog.services import catalog_import
from gateway.models import Generation
from tests.factories import Account, AccountFactory, ModelFactory
from tests.fakes.upstream import FakeUpstream
from tests.helpers import cost_of
from tests.sse import ledger_verified, sdk

pytestmark = pytest.mark.usefixtures("transactional_db")

START = 10_000_000
PROMPT, COMPLETION = "20", "55"
EXPECTED = cost_of(prompt_tokens=10, completion_tokens=3, prompt=PROMPT, completion=COMPLETION)


@pytest.fixture
def account(make_model: ModelFactory, make_account: AccountFactory) -> Account:
    make_model("test/echo", prompt=PROMPT, completion=COMPLETION)
    return make_account(START)


@pytest.mark.parametrize("prompt", ["hello there", ["hello there"]], ids=["string", "list-of-one"])
def test_text_completion_is_served_by_the_chat_path_and_billed(
    live_server: Any, account: Account, upstream: FakeUpstream, prompt: Any
) -> None:
    # when the SDK asks for a legacy completion
    result = sdk(live_server, account.secret).completions.create(
        model="test/echo", prompt=prompt, max_tokens=20, temperature=0.5
    )
    # then it is a text_completion with the echoed prompt as text
    assert result.object == "text_completion"
    assert result.id.startswith("gen-")
    assert result.model == "test/echo"
    assert (result.model_extra or {})["provider"] == "Fake"
    assert result.choices[0].text == "echo: hello there"
    assert result.choices[0].finish_reason == "stop"
    # and the upstream got one user message, without the legacy fields
    sent = upstream.requests[-1]["body"]
    assert sent["messages"] == [{"role": "user", "content": "hello there"}]
    assert "prompt" not in sent
    assert (sent["max_tokens"], sent["temperature"]) == (20, 0.5)
    # and 10 prompt + 3 completion tokens were charged: 10 x 20 + 3 x 55
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (10, 3)
    assert (result.usage.model_extra or {})["cost"] == EXPECTED == 365
    assert account.balance() == START - EXPECTED
    gen = Generation.objects.get(request_id=result.id)
    assert (gen.surface, gen.cost, gen.is_streamed) == ("completions", EXPECTED, False)
    ledger_verified(account)


def test_streamed_text_completion_ends_with_the_usage_and_cost(
    live_server: Any, account: Account, upstream: FakeUpstream
) -> None:
    # when the SDK streams a legacy completion
    chunks = list(
        sdk(live_server, account.secret).completions.create(
            model="test/echo", prompt="hello there", stream=True
        )
    )
    # then the text pieces join up, each chunk a text_completion of this request
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "echo: hello there"
    assert {c.object for c in chunks} == {"text_completion"}
    assert len({c.id for c in chunks}) == 1
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    # and the last one carries the usage with the cost, which was charged
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert (last.usage.model_extra or {})["cost"] == EXPECTED
    assert upstream.requests[-1]["body"]["stream_options"] == {"include_usage": True}
    assert account.balance() == START - EXPECTED
    gen = Generation.objects.get(request_id=last.id)
    assert (gen.surface, gen.is_streamed, gen.status) == ("completions", True, "success")
    ledger_verified(account)


def test_prompt_list_of_two_is_invalid_and_charges_nothing(
    live_server: Any, account: Account, upstream: FakeUpstream
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(live_server, account.secret).completions.create(model="test/echo", prompt=["a", "b"])
    assert (caught.value.code, caught.value.param) == ("invalid_parameter", "prompt")
    assert upstream.requests == []
    assert account.balance() == START and account.held() == 0


def test_sandbox_model_of_the_demo_catalog_serves_every_text_surface(
    live_server: Any, make_account: AccountFactory
) -> None:
    # given the demo catalog (the free, local sandbox model) and an account
    catalog_import(data=json.loads(Path("catalog/demo_catalog.json").read_text()))
    account = make_account(1_000_000)
    client = sdk(live_server, account.secret)
    # when it is used for completions, streamed completions and embeddings
    text = client.completions.create(model="sandbox", prompt="hi there", max_tokens=20)
    streamed = list(client.completions.create(model="sandbox", prompt="hi there", stream=True))
    vectors = client.embeddings.create(model="sandbox", input=["a", "b"], dimensions=4)
    # then each answers deterministically and, the model being free, nothing is charged
    assert text.choices[0].text == "Sandbox reply: hi there"
    assert "".join(c.choices[0].text for c in streamed if c.choices) == "Sandbox reply: hi there"
    assert [len(d.embedding) for d in vectors.data] == [4, 4]
    assert account.balance() == 1_000_000
    assert Generation.objects.filter(model="sandbox/echo", cost=0).count() == 3
    ledger_verified(account)
