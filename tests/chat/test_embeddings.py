"""``POST /v1/embeddings`` through the SDK: vectors as the upstream made them, billed on
prompt tokens (the fake reports 3 per input)."""

from __future__ import annotations

import base64
import struct
from typing import Any

import pytest

from gateway.models import Generation
from tests.factories import Account, AccountFactory, ModelFactory
from tests.fakes.embeddings import embedding_vector
from tests.fakes.upstream import FakeUpstream
from tests.helpers import cost_of
from tests.sse import ledger_verified, sdk

pytestmark = pytest.mark.usefixtures("transactional_db")

START = 10_000_000
PRICE = "50"  # credits per prompt token


@pytest.fixture
def account(make_model: ModelFactory, make_account: AccountFactory) -> Account:
    make_model(
        "test/embed",
        upstream_models=("embed-small",),
        prompt=PRICE,
        completion="0",
        output_modalities=["embeddings"],
    )
    return make_account(START)


def test_string_input_gets_one_vector_billed_on_its_prompt_tokens(
    live_server: Any, account: Account, upstream: FakeUpstream
) -> None:
    # when the SDK embeds one string (it asks for base64 and decodes it itself)
    result = sdk(live_server, account.secret).embeddings.create(model="test/embed", input="hello")
    # then the vector is the upstream's, and 3 prompt tokens x 50 were charged
    assert [d.embedding for d in result.data] == [embedding_vector("hello", 8)]
    assert result.model == "test/embed"
    assert result.usage.prompt_tokens == 3
    expected = cost_of(prompt_tokens=3, completion_tokens=0, prompt=PRICE, completion="0")
    assert expected == 150
    assert (result.usage.model_extra or {})["cost"] == expected
    assert account.balance() == START - expected
    sent = upstream.requests[-1]
    assert sent["path"] == "/v1/embeddings"
    assert (sent["body"]["model"], sent["body"]["input"]) == ("embed-small", "hello")
    gen = Generation.objects.get(request_id=result.model_extra["id"])  # type: ignore[index]
    assert (gen.surface, gen.prompt_tokens, gen.completion_tokens, gen.cost) == (
        "embeddings",
        3,
        0,
        expected,
    )
    ledger_verified(account)


def test_list_input_with_dimensions_is_billed_per_item(
    live_server: Any, account: Account, upstream: FakeUpstream
) -> None:
    # when three strings are embedded in 4 dimensions as floats
    items = ["alpha", "beta", "gamma"]
    result = sdk(live_server, account.secret).embeddings.create(
        model="test/embed", input=items, dimensions=4, encoding_format="float"
    )
    # then one 4-dimensional vector per item, in order; 9 prompt tokens x 50 charged
    assert [d.index for d in result.data] == [0, 1, 2]
    assert [d.embedding for d in result.data] == [embedding_vector(i, 4) for i in items]
    assert upstream.requests[-1]["body"]["dimensions"] == 4
    assert result.usage.prompt_tokens == 9
    assert (result.usage.model_extra or {})["cost"] == 450
    assert account.balance() == START - 450
    ledger_verified(account)


def test_base64_encoding_is_passed_through(
    live_server: Any, account: Account, upstream: FakeUpstream
) -> None:
    # when base64 is asked for explicitly
    result = sdk(live_server, account.secret).embeddings.create(
        model="test/embed", input=["x", "y"], dimensions=6, encoding_format="base64"
    )
    # then each embedding is the upstream's little-endian float32 string
    assert upstream.requests[-1]["body"]["encoding_format"] == "base64"
    decoded = [
        list(struct.unpack("<6f", base64.b64decode(d.embedding)))  # type: ignore[arg-type]
        for d in result.data
    ]
    assert decoded == [embedding_vector("x", 6), embedding_vector("y", 6)]
    assert account.balance() == START - 300
    ledger_verified(account)
