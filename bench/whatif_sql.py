"""The money path as single SQL statements: what-if variants the benchmark compares with the
ORM code in billing/services.py and gateway/services.py (same tables, same arithmetic).

Each is one autocommit statement, so the hot ``billing_creditaccount`` row is locked only
while the statement runs and commits, never across a round trip to the application.
Parameters are psycopg ``%(name)s`` placeholders.
"""

from __future__ import annotations

from typing import Any

import orjson

RESERVE_SQL = """
WITH acc AS (
    UPDATE billing_creditaccount SET held = held + %(amount)s
    WHERE id = %(account)s AND balance >= held + %(amount)s
    RETURNING id
)
INSERT INTO billing_hold (account_id, api_key_id, month, amount, request_id, created_at,
                          expires_at)
SELECT acc.id, %(key)s, NULL, %(amount)s, %(rid)s, now(), now() + interval '900 seconds'
FROM acc RETURNING id
"""

RELEASE_SQL = """
WITH h AS (DELETE FROM billing_hold WHERE id = %(hold)s RETURNING account_id, amount)
UPDATE billing_creditaccount a SET held = a.held - h.amount, updated_at = now()
FROM h WHERE a.id = h.account_id
"""

SETTLE_SQL = """
WITH h AS (DELETE FROM billing_hold WHERE id = %(hold)s RETURNING account_id, amount),
acc AS (
    UPDATE billing_creditaccount a
    SET balance = a.balance - %(charge)s, held = a.held - h.amount, updated_at = now()
    FROM h WHERE a.id = h.account_id
    RETURNING a.id, a.balance
),
le AS (
    INSERT INTO billing_ledgerentry (account_id, api_key_id, amount, kind, reference, memo,
                                     balance_after, created_at)
    SELECT acc.id, %(key)s, -%(charge)s, 'usage', %(rid)s, %(memo)s, acc.balance, now()
    FROM acc RETURNING id
)
INSERT INTO gateway_generation (
    request_id, user_id, api_key_id, model, route_id, provider, upstream_model, surface,
    status, http_status, error_code, finish_reason, latency_ms, ttft_ms, prompt_tokens,
    completion_tokens, cached_tokens, reasoning_tokens, native_usage, prices, cost,
    cost_breakdown, ledger_entry_id, attempts, is_streamed, usage_estimated, created_at)
SELECT %(rid)s, %(user)s, %(key)s, %(model)s, %(route)s, %(provider)s, %(upstream_model)s,
    %(surface)s, 'success', 200, '', %(finish)s, %(latency)s, NULL, %(pt)s, %(ct)s, 0, 0,
    %(native)s::jsonb, %(prices)s::jsonb, %(charge)s, %(breakdown)s::jsonb, le.id,
    %(attempts)s::jsonb, false, false, now()
FROM le RETURNING id
"""


def settle_params(
    *,
    hold: int,
    cost: Any,
    usage: Any,
    key: Any,
    rid: str,
    user: int,
    route: Any,
    model: Any,
    model_id: str,
    native: str = "{}",
) -> dict[str, Any]:
    """SETTLE_SQL's parameters for a charge of ``cost`` (at most the 1,000 reserved)."""
    return {
        "hold": hold,
        "charge": min(cost.total, 1000),
        "key": key,
        "rid": rid,
        "memo": model_id,
        "user": user,
        "model": model_id,
        "route": route.id,
        "provider": route.provider_name,
        "upstream_model": route.upstream_model,
        "surface": "chat.completions",
        "finish": "stop",
        "latency": 60,
        "pt": usage.prompt_tokens,
        "ct": usage.completion_tokens,
        "native": native,
        "prices": orjson.dumps(model.prices.as_dict()).decode(),
        "breakdown": orjson.dumps(cost.breakdown()).decode(),
        "attempts": "[]",
    }
