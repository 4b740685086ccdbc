"""No upstream can make the gateway hand its credential to an API client: upstream error
text reaches the client only for a 4xx and only with the provider's key redacted; a 5xx
or an overload gets a generic message, its text going to the log (redacted too); and
nothing the upstream said puts the key on the Generation record."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.forms.models import model_to_dict

from catalog.models import Provider
from gateway.models import Generation
from gateway.providers.base import REDACTED, secret_redact
from tests.factories import ANTHROPIC_KEY_ENV, FAKE_KEY_ENV, Account, AccountFactory, ModelFactory
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.upstream import FakeUpstream
from tests.helpers import ApiClient, assert_error, assert_not_charged
from tests.sse import sse_chunks

START = 10_000_000
# Keys with no dictionary words, so any run of 8 of their characters in a reply is a leak.
OPENAI_SECRET = "sk-test-7f3a9c2e5b8d1046"
ANTHROPIC_SECRET = "sk-ant-test-c81e728d9d4c2f63"
MESSAGES = [{"role": "user", "content": "one two three"}]


def runs(secret: str, size: int = 8) -> set[str]:
    """Every run of ``size`` consecutive characters of the secret."""
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


def assert_no_secret(text: str, secret: str) -> None:
    assert secret not in text
    assert not [run for run in runs(secret) if run in text]


def assert_record_clean(secret: str) -> Generation:
    generation = Generation.objects.get()
    assert_no_secret(json.dumps(model_to_dict(generation), default=str), secret)
    return generation


@pytest.fixture
def account(make_account: AccountFactory) -> Account:
    return make_account(START)


@pytest.fixture
def gpt(
    make_model: ModelFactory, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> ModelFactory:
    monkeypatch.setenv(FAKE_KEY_ENV, OPENAI_SECRET)

    def make(mode: str) -> str:
        make_model(f"test/{mode}", upstream_models=(mode,))
        return f"test/{mode}"

    return make


@pytest.fixture
def claude(
    make_model: ModelFactory,
    anthropic_provider: Provider,
    anthropic_upstream: FakeAnthropic,
    monkeypatch: pytest.MonkeyPatch,
) -> ModelFactory:
    monkeypatch.setenv(ANTHROPIC_KEY_ENV, ANTHROPIC_SECRET)
    monkeypatch.setattr(anthropic_upstream, "api_key", ANTHROPIC_SECRET)

    def make(mode: str) -> str:
        make_model(f"claude/{mode}", upstream_models=(mode,), route_provider=anthropic_provider)
        return f"claude/{mode}"

    return make


# --- the redaction itself ----------------------------------------------------------------


def test_redact_takes_out_the_whole_key_and_every_long_piece_of_it() -> None:
    secret = "sk-live-0123456789abcdef"
    text = f"got {secret}, Bearer {secret[:12]}..., tail {secret[-9:]} and sk-live"
    redacted = secret_redact(text, secret)
    assert redacted == f"got {REDACTED}, Bearer {REDACTED}..., tail {REDACTED} and sk-live"
    assert_no_secret(redacted, secret)


def test_redact_leaves_text_alone_without_a_key_or_without_a_match() -> None:
    assert secret_redact("nothing here", "") == "nothing here"
    assert secret_redact("nothing here", "sk-live-0123456789") == "nothing here"
    assert secret_redact("short key abc", "abc") == f"short key {REDACTED}"


# --- OpenAI-dialect upstream -------------------------------------------------------------


def test_4xx_text_is_relayed_with_the_key_redacted(
    api: ApiClient, account: Account, gpt: ModelFactory
) -> None:
    # given an upstream that echoes the Authorization header in its 400 error
    model = gpt("echo-auth-400")
    # when
    resp = api.post("/v1/chat/completions", {"model": model, "messages": MESSAGES}, account=account)
    # then the client reads the upstream's reason, without the key
    error = assert_error(resp, 400, "invalid_request")
    assert "refused" in error["message"] and REDACTED in error["message"]
    assert_no_secret(resp.content.decode(), OPENAI_SECRET)
    assert_not_charged(account, START)
    assert assert_record_clean(OPENAI_SECRET).http_status == 400


def test_5xx_text_stays_in_the_log_redacted_and_the_client_gets_a_generic_message(
    api: ApiClient, account: Account, gpt: ModelFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # given an upstream that echoes the Authorization header in its 500 error
    model = gpt("echo-auth-500")
    # when
    with caplog.at_level(logging.WARNING, logger="gateway.providers.base"):
        resp = api.post(
            "/v1/chat/completions", {"model": model, "messages": MESSAGES}, account=account
        )
    # then the client learns only that the upstream failed, with which status
    error = assert_error(resp, 502, "provider_error")
    assert error["message"] == "The provider failed: Upstream answered HTTP 500"
    assert "refused" not in resp.content.decode()
    assert_no_secret(resp.content.decode(), OPENAI_SECRET)
    # and the log has the upstream's text, redacted
    logged = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(logged) == 1 and REDACTED in logged[0]
    assert_no_secret(caplog.text, OPENAI_SECRET)
    assert_not_charged(account, START)
    assert_record_clean(OPENAI_SECRET)


def test_stream_refused_before_its_first_byte_is_redacted(
    api: ApiClient, account: Account, gpt: ModelFactory
) -> None:
    model = gpt("echo-auth-400")
    body = {"model": model, "messages": MESSAGES, "stream": True}
    resp = api.post("/v1/chat/completions", body, account=account)
    error = assert_error(resp, 400, "invalid_request")
    assert REDACTED in error["message"]
    assert_no_secret(resp.content.decode(), OPENAI_SECRET)
    assert_record_clean(OPENAI_SECRET)


@pytest.mark.parametrize(("status", "relayed"), [(400, True), (500, False)])
def test_mid_stream_error_is_redacted_and_relayed_only_for_a_4xx(
    api: ApiClient, account: Account, gpt: ModelFactory, status: int, relayed: bool
) -> None:
    # given an upstream whose in-stream error event echoes the Authorization header
    model = gpt(f"authevent-{status}")
    body = {"model": model, "messages": MESSAGES, "stream": True}
    # when
    resp = api.post("/v1/chat/completions", body, account=account)
    raw = b"".join(resp.streaming_content).decode()
    # then the error chunk carries the reason (redacted) only for a 4xx
    message = [c for c in sse_chunks(raw.encode()) if "error" in c][-1]["error"]["message"]
    assert ("refused" in message) is relayed
    if not relayed:
        assert message.endswith("Upstream reported an error during the stream")
    assert_no_secret(raw, OPENAI_SECRET)
    assert_record_clean(OPENAI_SECRET)


# --- Anthropic upstream ------------------------------------------------------------------


def messages_post(api: ApiClient, account: Account, model: str, **extra: Any) -> Any:
    body = {"model": model, "max_tokens": 32, "messages": MESSAGES, **extra}
    return api.post("/v1/messages", body, account=account)


def test_anthropic_4xx_is_relayed_redacted_in_anthropics_shape(
    api: ApiClient, account: Account, claude: ModelFactory
) -> None:
    resp = messages_post(api, account, claude("echo-auth-400"))
    assert resp.status_code == 400
    body = resp.json()
    assert body["type"] == "error"
    assert "refused" in body["error"]["message"] and REDACTED in body["error"]["message"]
    assert_no_secret(resp.content.decode(), ANTHROPIC_SECRET)
    assert_not_charged(account, START)
    assert_record_clean(ANTHROPIC_SECRET)


def test_anthropic_5xx_is_generic(api: ApiClient, account: Account, claude: ModelFactory) -> None:
    resp = messages_post(api, account, claude("echo-auth-500"))
    assert resp.status_code == 502
    assert "refused" not in resp.content.decode()
    assert "Upstream answered HTTP 500" in resp.json()["error"]["message"]
    assert_no_secret(resp.content.decode(), ANTHROPIC_SECRET)
    assert_record_clean(ANTHROPIC_SECRET)


@pytest.mark.parametrize(("status", "relayed"), [(400, True), (529, False)])
def test_anthropic_error_event_is_redacted_and_relayed_only_for_a_4xx(
    api: ApiClient, account: Account, claude: ModelFactory, status: int, relayed: bool
) -> None:
    resp = messages_post(api, account, claude(f"authevent-{status}"), stream=True)
    raw = b"".join(resp.streaming_content).decode()
    error = json.loads(raw.rsplit("data: ", 1)[1])
    assert error["type"] == "error"
    assert ("refused" in error["error"]["message"]) is relayed
    assert_no_secret(raw, ANTHROPIC_SECRET)
    assert_record_clean(ANTHROPIC_SECRET)
