"""The first slice end to end through Django's test client."""

import math
from decimal import Decimal

from gateway.models import Generation


def test_chat_completion_charges_exact_cost(api, make_model, make_account, upstream):
    # given a model at $1.5 / $6.25 per 1M tokens and an account with 10 USD of credits
    make_model("test/echo")
    account = make_account(10_000_000)
    # when the account asks for a completion
    resp = api.post(
        "/v1/chat/completions",
        {
            "model": "test/echo",
            "max_tokens": 50,
            "messages": [{"role": "user", "content": "one two three"}],
        },
        account=account,
    )
    # then the fake's usage (10 prompt tokens, 4 completion words) is charged exactly
    assert resp.status_code == 200, resp.content
    body = resp.json()
    expected = max(math.ceil(10 * Decimal("1.5") + 4 * Decimal("6.25")), 100)
    assert body["usage"]["prompt_tokens"] == 10
    assert body["usage"]["completion_tokens"] == 4
    assert body["usage"]["cost"] == expected
    assert account.balance() == 10_000_000 - expected
    assert account.held() == 0
    assert upstream.requests[-1]["body"]["model"] == "echo"
    gen = Generation.objects.get(request_id=body["id"])
    assert gen.cost == expected and gen.ledger_entry.amount == -expected
    assert resp["X-Request-Id"] == body["id"]
