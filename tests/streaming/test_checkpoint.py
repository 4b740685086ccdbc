"""A stream's checkpoints: what it delivered, written on its hold at most 2 s behind the
client, renewing the hold; none at all for a stream that ends within 2 s."""

from __future__ import annotations

import time

from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import Hold
from gateway.models import Generation
from tests.factories import AccountFactory, ModelFactory
from tests.fakes.upstream import FakeUpstream
from tests.helpers import ApiClient, chat_body, cost_of
from tests.sse import (
    chunk_text,
    content_chunks,
    estimate,
    estimated_completion,
    ledger_verified,
    sse_chunks,
)

PROMPT, COMPLETION = "20", "55"
WORDS = " ".join(f"w{i}" for i in range(1, 17))


def test_a_long_stream_checkpoints_what_it_delivered_at_most_2_s_behind(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory, upstream: FakeUpstream
) -> None:
    # given a ~4 s stream: 17 content chunks 0.25 s apart
    make_model("test/long", prompt=PROMPT, completion=COMPLETION)
    account = make_account(1_000_000)
    upstream.chunk_delay = 0.25
    # when it is read, looking at its hold after every event
    began = time.monotonic()
    resp = api.post(
        "/v1/chat/completions", {**chat_body("test/long", WORDS), "stream": True}, account=account
    )
    request_id = resp["X-Request-Id"]
    first_expiry = Hold.objects.get(request_id=request_id).expires_at
    delivered: list[tuple[float, list[str]]] = []  # (when, the pieces received by then)
    seen: list[tuple[float, Hold]] = []  # (when, the hold as it was)
    pieces: list[str] = []
    raw = b""
    for event in resp.streaming_content:
        raw += event
        now = time.monotonic() - began
        for chunk in sse_chunks(event):
            if chunk_text(chunk):
                pieces.append(chunk_text(chunk))
        delivered.append((now, list(pieces)))
        hold = Hold.objects.filter(request_id=request_id).first()
        if hold is not None:
            seen.append((now, hold))
    # then nothing was written during the first 2 s, and a checkpoint came soon after
    checkpointed = [(t, h) for t, h in seen if h.checkpoint_at is not None]
    assert checkpointed, "no checkpoint was written"
    assert all(t >= 1.9 for t, _ in checkpointed)
    assert checkpointed[0][0] <= 2.8
    # and every checkpoint covers at least what the client had 2 s before it was seen
    for t, hold in checkpointed:
        before = [p for when, p in delivered if when <= t - 2.0]
        owed = estimated_completion(before[-1]) if before else 0
        assert hold.checkpoint["usage"]["completion_tokens"] >= owed
    # and each charges what its usage costs, with what the record needs
    for _, hold in checkpointed:
        usage = hold.checkpoint["usage"]
        assert usage["prompt_tokens"] == estimate(WORDS)
        assert hold.checkpoint_credits == cost_of(
            prompt_tokens=usage["prompt_tokens"],
            completion_tokens=usage["completion_tokens"],
            prompt=PROMPT,
            completion=COMPLETION,
        )
    last = checkpointed[-1][1]
    assert last.checkpoint_credits > checkpointed[0][1].checkpoint_credits
    assert {k: last.checkpoint[k] for k in ("request_id", "model", "surface", "user_id")} == {
        "request_id": request_id,
        "model": "test/long",
        "surface": "chat.completions",
        "user_id": account.user.pk,
    }
    assert last.checkpoint["api_key_id"] == account.key.pk
    assert last.checkpoint["prices"]["completion"] == COMPLETION
    # and the checkpoints renewed the hold: its expiry moved forward
    assert (last.expires_at - first_expiry).total_seconds() >= 1.0
    # and the stream itself was billed at the upstream's usage, its hold closed
    assert "".join(content_chunks(sse_chunks(raw))) == "echo: " + WORDS
    gen = Generation.objects.get(request_id=request_id)
    expected = cost_of(prompt_tokens=10, completion_tokens=17, prompt=PROMPT, completion=COMPLETION)
    assert (gen.status, gen.cost) == ("success", expected)
    ledger_verified(account)


def test_a_short_stream_writes_no_checkpoint(
    api: ApiClient, make_model: ModelFactory, make_account: AccountFactory, upstream: FakeUpstream
) -> None:
    # given a stream that ends at once
    make_model("test/short", prompt=PROMPT, completion=COMPLETION)
    account = make_account(1_000_000)
    # when it is streamed, counting the statements it makes
    with CaptureQueriesContext(connection) as queries:
        resp = api.post(
            "/v1/chat/completions", {**chat_body("test/short"), "stream": True}, account=account
        )
        b"".join(resp.streaming_content)
    # then none of them touched the hold but the reserve and the settle
    statements = [q["sql"] for q in queries.captured_queries]
    assert not [s for s in statements if "checkpoint_at =" in s or 'checkpoint_at" =' in s]
    assert Generation.objects.get(request_id=resp["X-Request-Id"]).status == "success"
    ledger_verified(account)
