"""The one failover driver (gateway.pipeline.failover): which routes it tries, in which order, what
it records of each attempt, when it stops, and what is left of the hold when nothing
answered. The attempt is a scripted function, as the pipeline and the stream driver pass
their own; everything else (the reserve, the release, the record) is the real thing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from catalog.selectors import RouteInfo
from config.errors import ApiError
from gateway.models import Generation
from gateway.pipeline.complete import Admission, admit
from gateway.pipeline.failover import failover, outcome_new
from gateway.pipeline.planning import Caller, Candidate
from gateway.providers import ProviderError
from gateway.records.outcome import Outcome
from gateway.surfaces.validation import chat_validate
from tests.factories import Account, AccountFactory, ModelFactory

START = 5_000_000
BODY = {"model": "test/trio", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8}


@pytest.fixture
def account(make_account: AccountFactory, make_model: ModelFactory) -> Account:
    # test/trio: three routes, tried in the order a, b, c (highest priority first)
    make_model("test/trio", upstream_models=("a", "b", "c"), prompt="10", completion="20")
    return make_account(START)


def admitted(account: Account) -> Admission:
    key = account.key
    caller = Caller(
        request_id=f"gen-{uuid.uuid4().hex}",
        api_key=key,
        account_id=key.user.credit_account.pk,
        surface="chat.completions",
    )
    return admit(caller, chat_validate(dict(BODY)))


Script = dict[str, ProviderError | BaseException | str]


def scripted(script: Script, tried: list[str]) -> Callable[[Candidate, RouteInfo], str]:
    """An attempt that raises or answers what ``script`` says for each upstream model."""

    def attempt(candidate: Candidate, route: RouteInfo) -> str:
        tried.append(route.upstream_model)
        outcome = script[route.upstream_model]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return attempt


def retryable(status: int = 503) -> ProviderError:
    return ProviderError(f"Upstream answered HTTP {status}", status=status, retryable=True)


def attempts_of(outcome: Outcome) -> list[tuple[Any, ...]]:
    return [(a["status"], a["error"]) for a in outcome.attempts]


def record_of(admission: Admission) -> Generation:
    return Generation.objects.get(request_id=admission.caller.request_id)


def test_retryable_failures_move_on_to_the_next_route_until_one_answers(
    account: Account,
) -> None:
    # given a request holding credits, and routes a and b failing with 503 and 429
    admission = admitted(account)
    held = account.held()
    assert held > 0
    tried: list[str] = []
    outcome = outcome_new(admission)
    script: Script = {"a": retryable(503), "b": retryable(429), "c": "the answer"}
    # when the driver runs
    candidate, result = failover(admission, outcome, scripted(script, tried))
    # then c answered, after a and b, and the record names c and lists all three
    assert (result, tried) == ("the answer", ["a", "b", "c"])
    assert candidate.model.public_id == "test/trio"
    assert outcome.upstream_model == "c"
    assert attempts_of(outcome) == [(503, "provider_error"), (429, "provider_error"), (200, "")]
    # and the hold is still there, for the settle (the driver neither charges nor releases)
    assert account.held() == held
    assert not Generation.objects.filter(request_id=admission.caller.request_id).exists()


def test_a_failure_another_route_would_not_mend_stops_at_once(account: Account) -> None:
    # given a first route refusing the request itself (400, not retryable)
    admission = admitted(account)
    tried: list[str] = []
    outcome = outcome_new(admission)
    refused = ProviderError("max_tokens is too large", status=400, retryable=False)
    script: Script = {"a": refused, "b": "never asked", "c": "never asked"}
    # when the driver runs, then the client's 400 is raised and b and c are never tried
    with pytest.raises(ApiError) as caught:
        failover(admission, outcome, scripted(script, tried))
    assert (caught.value.status, caught.value.code) == (400, "invalid_request")
    assert caught.value.message == "The provider rejected the request: max_tokens is too large"
    assert tried == ["a"]
    # and the hold is released, nothing charged, the failure recorded
    assert (account.held(), account.balance()) == (0, START)
    record = record_of(admission)
    assert (record.status, record.http_status, record.error_code) == (
        "error",
        400,
        "invalid_request",
    )
    assert (record.cost, len(record.attempts)) == (0, 1)


def test_an_unconfigured_provider_is_skipped_and_named_when_every_route_is_one(
    account: Account,
) -> None:
    admission = admitted(account)
    tried: list[str] = []
    outcome = outcome_new(admission)
    missing = ProviderError(
        "Provider fake is not configured", retryable=False, code="provider_not_configured"
    )
    failover_script: Script = {"a": missing, "b": missing, "c": missing}
    with pytest.raises(ApiError) as caught:
        failover(admission, outcome, scripted(failover_script, tried))
    assert (caught.value.status, caught.value.code) == (503, "provider_not_configured")
    assert tried == ["a", "b", "c"]
    assert attempts_of(outcome) == [(0, "provider_not_configured")] * 3
    assert account.held() == 0
    assert record_of(admission).error_code == "provider_not_configured"


def test_when_every_route_fails_the_last_failure_is_the_clients_502(account: Account) -> None:
    admission = admitted(account)
    tried: list[str] = []
    outcome = outcome_new(admission)
    script: Script = {"a": retryable(500), "b": retryable(502), "c": retryable(504)}
    with pytest.raises(ApiError) as caught:
        failover(admission, outcome, scripted(script, tried))
    assert (caught.value.status, caught.value.code) == (502, "provider_error")
    assert caught.value.message == "The provider failed: Upstream answered HTTP 504"
    assert tried == ["a", "b", "c"]
    assert (account.held(), account.balance()) == (0, START)
    record = record_of(admission)
    assert (record.http_status, record.error_code, record.cost) == (502, "provider_error", 0)
    assert [a["status"] for a in record.attempts] == [500, 502, 504]


def test_the_retry_budget_bounds_the_attempts(account: Account, settings: Any) -> None:
    # given a budget of two attempts per model
    settings.GATEWAY_MAX_ATTEMPTS = 2
    admission = admitted(account)
    tried: list[str] = []
    outcome = outcome_new(admission)
    script: Script = {"a": retryable(), "b": retryable(), "c": "not within the budget"}
    with pytest.raises(ApiError) as caught:
        failover(admission, outcome, scripted(script, tried))
    assert caught.value.code == "provider_error"
    assert tried == ["a", "b"]
    assert account.held() == 0


def test_an_unexpected_error_releases_the_hold_and_is_recorded_as_internal(
    account: Account,
) -> None:
    # given an attempt that fails in a way no check foresaw
    admission = admitted(account)
    tried: list[str] = []
    outcome = outcome_new(admission)
    script: Script = {"a": retryable(), "b": KeyError("choices"), "c": "never asked"}
    # when the driver runs, then the error goes on up (the API answers its 500)
    with pytest.raises(KeyError):
        failover(admission, outcome, scripted(script, tried))
    assert tried == ["a", "b"]
    # and nothing is held or charged, and the request is in its owner's log
    assert (account.held(), account.balance()) == (0, START)
    record = record_of(admission)
    assert (record.http_status, record.error_code, record.cost) == (500, "internal_error", 0)
