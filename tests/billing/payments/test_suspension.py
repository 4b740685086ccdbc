"""A suspended account's keys answer 403 account_suspended at once, also a key the
process read moments ago (PostgreSQL's key cache: the reserve statement refuses the
suspended account, and the key is then read again). Nothing is held or charged."""

from __future__ import annotations

from typing import Any

from billing.models import CreditAccount, Hold, LedgerEntry
from gateway.pipeline import keycache

CHAT = {"model": "test/priced", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}


def test_suspension_takes_effect_on_the_next_request(
    make_account: Any, make_model: Any, api: Any
) -> None:
    # given a key that has just been used (cached on PostgreSQL)
    make_model("test/priced", prompt="0", completion="0", request="1")
    account = make_account(10_000_000)
    assert api.post("/v1/chat/completions", CHAT, account=account).status_code == 200
    assert account.balance() == 9_000_000
    if keycache.enabled():
        assert keycache.key_get(account.key.prefix) is not None
    # when the account is suspended (a refund took back credits already spent)
    CreditAccount.objects.filter(user=account.user).update(is_suspended=True)
    # then every endpoint of the key answers 403 account_suspended, nothing held or charged
    response = api.post("/v1/chat/completions", CHAT, account=account)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "account_suspended"
    for path in ("/v1/credits", "/v1/key"):
        assert api.get(path, account=account).json()["error"]["code"] == "account_suspended"
    assert account.balance() == 9_000_000
    assert Hold.objects.count() == 0
    assert LedgerEntry.objects.filter(kind="usage").count() == 1
    # and when an admin clears it, the key works again
    CreditAccount.objects.filter(user=account.user).update(is_suspended=False)
    assert api.post("/v1/chat/completions", CHAT, account=account).status_code == 200
