"""The API answers every generated request without a server error (issue 10, point 2).

At least ``FUZZ_REQUESTS`` (default 5,000) requests from ``tests.fuzz.generators`` (seed
``FUZZ_SEED``, default fixed so CI is reproducible) go over real HTTP, on one keep-alive
connection, to the live server, on /v1 and /api/v1, to a model behind the fake OpenAI
upstream, one behind the fake Anthropic upstream and an embeddings model; about 4% go to
a model whose upstreams always fail (the injected faults). Then:

- no answer is >= 500, except 502 ``provider_error`` for an injected fault (a request whose
  ``provider`` preferences leave no route is 404 ``no_matching_route``, counted apart);
- every error is JSON in its surface's shape (Anthropic's under /v1/messages, its
  count_tokens and unknown paths below it; OpenAI's elsewhere);
- no 4xx charged anything: no usage ledger entry and no charged record carries its request
  id, and every usage entry belongs to a 2xx answer; at the end no hold is open and the
  ledger invariants hold.

A one-line summary (requests, status histogram, seconds) is printed.
"""

from __future__ import annotations

import os
import socket
import time
from collections import Counter
from typing import Any

import pytest
import requests

from billing.models import Hold, LedgerEntry
from billing.selectors import ledger_breaches
from gateway.models import Generation
from tests.factories import Account
from tests.fuzz.generators import BODY_LIMIT, FuzzRequest, Generator
from tests.fuzz.world import BROKEN_CLAUDE, BROKEN_GPT
from tests.validation.world import CLAUDE, EMBED, GPT, World

pytestmark = pytest.mark.usefixtures("transactional_db")

REQUESTS = int(os.environ.get("FUZZ_REQUESTS", "5000"))
SEED = int(os.environ.get("FUZZ_SEED", "20261201"))


def shape_problem(fuzz: FuzzRequest, resp: requests.Response) -> str | None:
    """Why an error answer is not in its surface's JSON shape, or None."""
    if fuzz.method == "HEAD":
        return None
    if not resp.headers.get("Content-Type", "").startswith("application/json"):
        return f"not JSON: {resp.headers.get('Content-Type')}"
    try:
        body = resp.json()
    except ValueError:
        return "body does not parse as JSON"
    path = fuzz.path.split("?", 1)[0].split("/v1/", 1)[-1]
    if path == "messages" or path.startswith("messages/"):  # Anthropic's paths, known or not
        ok = (
            isinstance(body, dict)
            and body.get("type") == "error"
            and isinstance(body.get("error"), dict)
            and isinstance(body["error"].get("type"), str)
            and isinstance(body["error"].get("message"), str)
        )
        return None if ok else f"not Anthropic's error shape: {body!r:.300}"
    error = body.get("error") if isinstance(body, dict) else None
    ok = isinstance(error, dict) and {"message", "type", "code", "param"} <= set(error)
    return None if ok else f"not the OpenAI error shape: {body!r:.300}"


def error_code(resp: requests.Response) -> str | None:
    try:
        body = resp.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("code") if isinstance(error, dict) else None


def nagle_off(*listeners: socket.socket) -> None:
    """TCP_NODELAY on the test servers' listening sockets (accepted ones inherit it): their
    handlers write headers and body in two sends, and Nagle's algorithm then holds the body
    until the client's delayed ACK, 40 ms a request, for no other reason."""
    for listener in listeners:
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def send(session: requests.Session, base: str, fuzz: FuzzRequest) -> requests.Response:
    data: Any = fuzz.body
    headers = fuzz.headers
    if fuzz.chunked and data is not None:
        # Transfer-Encoding: chunked, on a connection of its own: the test server (Django's,
        # unlike gunicorn) does not de-chunk, so the unread body would spoil a kept-alive one
        data = iter([data[: len(data) // 2], data[len(data) // 2 :]])
        headers = {**headers, "Connection": "close"}
        session = requests.Session()
    return session.request(
        fuzz.method,
        base + fuzz.path,
        data=data,
        headers=headers,
        timeout=30,
        allow_redirects=False,
    )


def test_no_generated_request_gets_a_server_error_or_is_charged_when_refused(
    live_server: Any, fuzz_world: World, capsys: pytest.CaptureFixture[str], settings: Any
) -> None:
    settings.GATEWAY_MAX_BODY_BYTES = BODY_LIMIT
    # given a funded account, three models and a generator of hostile requests
    account: Account = fuzz_world.account
    auth = {"Authorization": f"Bearer {account.secret}"}
    generator = Generator(SEED, auth, (GPT, CLAUDE, EMBED), (BROKEN_GPT, BROKEN_CLAUDE))
    nagle_off(
        live_server.thread.httpd.socket, fuzz_world.upstream.socket, fuzz_world.anthropic.socket
    )
    session = requests.Session()
    statuses: Counter[int] = Counter()
    refused_ids: set[str] = set()
    answered_ids: set[str] = set()
    crashes: list[str] = []
    bad_shapes: list[str] = []
    unroutable = 0  # 404 no_matching_route: provider preferences that leave no route
    injected = 0  # 502 provider_error from a model whose upstreams always fail
    began = time.monotonic()
    # when every request is sent
    for _ in range(REQUESTS):
        fuzz = generator.next()
        resp = send(session, live_server.url, fuzz)
        statuses[resp.status_code] += 1
        if resp.status_code < 400:
            answered_ids.add(resp.headers.get("X-Request-Id", ""))
            continue
        problem = shape_problem(fuzz, resp)
        if problem:
            bad_shapes.append(f"{resp.status_code} {problem}\n    {fuzz.describe()}")
        code = error_code(resp)
        if resp.status_code == 404 and code == "no_matching_route" and fuzz.has_provider:
            unroutable += 1
        elif resp.status_code == 502 and code == "provider_error" and fuzz.faulty:
            injected += 1
        elif resp.status_code >= 500:
            crashes.append(f"{resp.status_code} {resp.text[:300]}\n    {fuzz.describe()}")
        if 400 <= resp.status_code < 500 and resp.headers.get("X-Request-Id"):
            refused_ids.add(resp.headers["X-Request-Id"])
    seconds = time.monotonic() - began
    histogram = ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items()))
    with capsys.disabled():
        print(
            f"\nfuzz: {REQUESTS} requests (seed {SEED}) in {seconds:.1f} s; "
            f"status {{{histogram}}}; 502 provider_error of injected upstream faults: "
            f"{injected}; 404 no_matching_route under the request's provider preferences: "
            f"{unroutable}; {len(refused_ids)} 4xx with a request id"
        )
    # then no request crashed the server and every error had its surface's shape
    assert crashes == [], f"{len(crashes)} server errors, first ones:\n" + "\n".join(crashes[:5])
    assert bad_shapes == [], f"{len(bad_shapes)} bad error bodies:\n" + "\n".join(bad_shapes[:5])
    # and nothing refused was charged, no hold is left open, the ledger agrees
    usage = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.USAGE)
    refused = sum(n for s, n in statuses.items() if 400 <= s < 500)
    assert len(refused_ids) == refused  # every 4xx carried its request id
    assert usage.filter(reference__in=refused_ids).count() == 0
    assert set(usage.values_list("reference", flat=True)) <= answered_ids
    assert Generation.objects.filter(request_id__in=refused_ids, cost__gt=0).count() == 0
    assert Hold.objects.count() == 0
    assert account.held() == 0
    charged = sum(g.cost for g in Generation.objects.all())
    assert -sum(e.amount for e in usage) == charged
    assert ledger_breaches() == []
    assert statuses[200] > 0 and refused > 0
