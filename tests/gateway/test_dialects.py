"""The dialects' operations (gateway.providers.dialect): every dialect answers every
operation of the protocol, and one it does not offer is refused with OperationUnsupported
(400, not retryable), never an AttributeError; a request for one gets the client's 400."""

from __future__ import annotations

from typing import Any

import pytest

from catalog.selectors import RouteInfo
from gateway.pipeline.failover import failure_error
from gateway.providers import DIALECTS, NATIVE_DIALECTS, OperationUnsupported
from gateway.providers.dialect import UpstreamTask

ROUTE = RouteInfo(
    id=1,
    provider_slug="p",
    provider_name="P",
    dialect="openai",
    base_url="http://127.0.0.1:9",  # nothing listens; an unsupported operation sends nothing
    api_key_env="",
    upstream_model="m",
    priority=100,
    weight=1,
)

UNSUPPORTED = [
    # (dialect, operation, the error's message)
    ("openai", "task_submit", "The openai dialect does not support music tasks"),
    ("anthropic", "embed", "Anthropic offers no embeddings"),
    ("anthropic", "image", "The anthropic dialect does not support image generation"),
    ("anthropic", "task_submit", "The anthropic dialect does not support media tasks"),
    ("anthropic", "task_poll", "The anthropic dialect does not support media tasks"),
    ("replicate", "complete", "The replicate dialect does not support chat completions"),
    ("replicate", "embed", "The replicate dialect does not support embeddings"),
    ("replicate", "image", "The replicate dialect does not support image generation"),
]


def call(dialect: str, operation: str) -> Any:
    d = DIALECTS[dialect]
    if operation == "complete":
        return d.complete(ROUTE, {"messages": [{"role": "user", "content": "x"}]})
    if operation == "embed":
        return d.embed(ROUTE, {"input": "x"})
    if operation == "image":
        return d.image(ROUTE, {"prompt": "x"})
    if operation == "task_submit":
        return d.task_submit(ROUTE, {"kind": "music", "prompt": "x"})
    if operation == "task_poll":
        return d.task_poll(ROUTE, UpstreamTask(upstream_id="t-1"))
    raise AssertionError(operation)


@pytest.mark.parametrize(("dialect", "operation", "message"), UNSUPPORTED)
def test_an_operation_a_dialect_does_not_offer_is_refused_clearly(
    dialect: str, operation: str, message: str
) -> None:
    with pytest.raises(OperationUnsupported) as caught:
        call(dialect, operation)
    err = caught.value
    assert (err.message, err.status, err.retryable) == (message, 400, False)
    assert err.code == "operation_not_supported"
    # and the client is told the provider refused the request, as a 400
    client = failure_error([err])
    assert (client.status, client.code) == (400, "invalid_request")
    assert client.message == f"The provider rejected the request: {message}"


def test_the_sandbox_streams_a_local_source_with_its_usage_last() -> None:
    source = DIALECTS["sandbox"].stream(
        ROUTE, {"messages": [{"role": "user", "content": "one two"}], "max_tokens": 50}
    )
    chunks = list(source)
    source.release()  # nothing to give back; ends quietly
    texts = [c.canonical["choices"][0]["delta"].get("content") for c in chunks[:-1]]
    assert texts == ["", "Sandbox", " reply:", " one", " two", None]
    assert chunks[-2].canonical["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1].canonical["usage"]["completion_tokens"] == 4
    assert all(c.native is None for c in chunks)


def test_only_anthropic_takes_a_native_body() -> None:
    assert sorted(NATIVE_DIALECTS) == ["anthropic"]
    assert NATIVE_DIALECTS["anthropic"] is DIALECTS["anthropic"]
