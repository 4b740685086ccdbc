"""``POST /v1/responses`` through the official ``openai`` SDK, for a route of each dialect,
streamed and not; and the stateful parameters this stateless gateway refuses."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.factories import Account
from tests.helpers import assert_not_charged
from tests.surfaces.targets import START, Target, assert_charged, cost, openai_sdk

pytestmark = pytest.mark.usefixtures("transactional_db")

QUESTION = "hello there gateway"


def test_responses_create_answers_and_charges_the_upstream_usage(
    live_server: Any, account: Account, target: Target
) -> None:
    # given the openai SDK pointed at the gateway
    client = openai_sdk(live_server, account.secret)
    # when it creates a response with instructions
    response = client.responses.create(
        model=target.model, input=QUESTION, instructions="be brief", max_output_tokens=64
    )
    # then the reply is one message item
    assert response.status == "completed"
    assert [item.type for item in response.output] == ["message"]
    assert response.output_text == target.reply(QUESTION)
    assert response.model == target.model
    # and the usage is the fake's, with the cost
    prompt = target.prompt_tokens(turns=1, system=True)
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (prompt, 4)
    assert response.usage.total_tokens == prompt + 4
    expected = cost(prompt, 4)
    assert (response.usage.model_extra or {})["cost"] == expected
    assert (response.model_extra or {})["provider"] == target.provider
    # and exactly that was charged, on the responses surface
    assert_charged(account, response.id, expected, "responses")
    assert target.sent()["max_tokens"] == 64


def test_responses_stream_sends_the_event_sequence_and_the_usage(
    live_server: Any, account: Account, target: Target
) -> None:
    # given the openai SDK
    client = openai_sdk(live_server, account.secret)
    # when it streams a response
    events = list(
        client.responses.create(
            model=target.model, input=QUESTION, instructions="be brief", stream=True
        )
    )
    # then the events come in the Responses API's order
    kinds = [event.type for event in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert set(kinds[4:-4]) == {"response.output_text.delta"}
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == target.reply(QUESTION)
    # and response.completed holds the whole output, the usage and the cost
    done = events[-1].response
    assert done.output_text == text
    prompt = target.prompt_tokens(turns=1, system=True)
    assert done.usage is not None
    assert (done.usage.input_tokens, done.usage.output_tokens) == (prompt, 4)
    expected = cost(prompt, 4)
    assert (done.usage.model_extra or {})["cost"] == expected
    generation = assert_charged(account, done.id, expected, "responses")
    assert (generation.is_streamed, generation.usage_estimated) == (True, False)


def test_responses_input_items_carry_the_conversation(
    live_server: Any, account: Account, target: Target
) -> None:
    # given a conversation as input items: user, assistant, user
    client = openai_sdk(live_server, account.secret)
    items: Any = [
        {"role": "user", "content": [{"type": "input_text", "text": "first"}]},
        {"role": "assistant", "content": [{"type": "output_text", "text": "ok"}]},
        {"role": "user", "content": "second question"},
    ]
    # when
    response = client.responses.create(model=target.model, input=items)
    # then the last user turn is answered and three messages were counted
    assert response.output_text == target.reply("second question")
    assert response.usage is not None
    prompt = target.prompt_tokens(turns=3, system=False)
    assert (response.usage.input_tokens, response.usage.output_tokens) == (prompt, 3)
    assert_charged(account, response.id, cost(prompt, 3), "responses")


@pytest.mark.parametrize(
    ("field", "value"), [("previous_response_id", "resp_123"), ("store", True)]
)
def test_stateful_parameters_are_refused_naming_the_param(
    live_server: Any, account: Account, gpt: Target, field: str, value: Any
) -> None:
    # given a stateless gateway
    client = openai_sdk(live_server, account.secret)
    # when a request asks it to remember or recall a response
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=gpt.model, input="hi", **{field: value})
    # then it is 400 naming the parameter, and nothing is charged or sent upstream
    assert caught.value.status_code == 400
    error = caught.value.body
    assert isinstance(error, dict)
    assert (error["param"], error["code"]) == (field, "invalid_parameter")
    assert field in error["message"]
    assert_not_charged(account, START)
    assert gpt.upstream.requests == []
