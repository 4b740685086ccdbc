"""Malformed media requests, generated from valid ones: each is a 4xx in the API's error
shape, never a 500, and nothing is created upstream, held or charged."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from billing.models import Hold, LedgerEntry
from gateway.media.models import MediaTask
from tests.factories import AccountFactory
from tests.fakes.media import FakeMedia
from tests.helpers import ApiClient
from tests.media_api.conftest import START

pytestmark = pytest.mark.usefixtures("media_models")

VALID: dict[str, dict[str, Any]] = {
    "/v1/images/generations": {
        "model": "acme/pic",
        "prompt": "a fox",
        "n": 1,
        "size": "1024x1024",
        "quality": "high",
        "response_format": "url",
        "max_credits": 1_000_000,
        "callback_url": "https://93.184.216.34/hook",
    },
    "/v1/videos": {
        "model": "acme/vid",
        "prompt": "waves",
        "duration": 4,
        "resolution": "720p",
        "input_mode": "image-to-video",
        "image_url": "https://example.com/a.png",
        "video_url": "https://example.com/a.mp4",
        "max_credits": 1_000_000,
        "callback_url": "https://93.184.216.34/hook",
    },
    "/v1/music/generations": {
        "model": "acme/song",
        "prompt": "jazz",
        "duration": 20,
        "max_credits": 1_000_000,
        "callback_url": "https://93.184.216.34/hook",
    },
}
# Values no field of these bodies accepts.
JUNK: list[Any] = [[[]], {"a": 1}, -7, True, "x\x00y", 1e300, [1, "two"], "ftp://127.0.0.1/x"]
RAW: list[bytes] = [
    b"",
    b"{",
    b"[1, 2",
    b"null",
    b'"a string"',
    b"[]",
    b"1e999",
    b'{"model": "acme/pic", "prompt": "p", "n": 1e999}',
    b'{"model": "acme/pic", "prompt": "\xff\xfe"}',
    b'{"model": "acme/pic", "prompt": "p", "x": ' + b"[" * 100 + b"]" * 100 + b"}",
]


def malformed(rng: random.Random) -> list[tuple[str, bytes]]:
    cases: list[tuple[str, bytes]] = []
    for path, valid in VALID.items():
        for _ in range(14):
            body = dict(valid)
            for name in rng.sample(sorted(body), rng.randint(1, 3)):
                body[name] = rng.choice(JUNK)
            cases.append((path, orjson.dumps(body)))
        without = dict(valid)
        del without[rng.choice(["model", "prompt"])]
        cases.append((path, orjson.dumps(without)))
        cases.append((path, orjson.dumps({**valid, "model": "nope/none"})))
        cases.extend((path, raw) for raw in RAW)
    return cases


def test_malformed_media_requests_are_4xx_and_cost_nothing(
    db: None, api: ApiClient, make_account: AccountFactory, media_upstream: FakeMedia
) -> None:
    # outside the tier: a Pay-as-you-go key's 60 requests/min would answer most of these 429
    account = make_account(START, ignore_tier=True)
    cases = malformed(random.Random(14))
    assert len(cases) == 3 * (14 + 2 + len(RAW)) == 78
    statuses: dict[int, int] = {}
    for path, raw in cases:
        resp = api.post(path, raw=raw, account=account)
        statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
        assert 400 <= resp.status_code < 500, (path, raw, resp.content)
        error = resp.json()["error"]
        assert set(error) == {"message", "type", "code", "param"}
        assert error["message"]
    assert set(statuses) <= {400, 404}
    assert statuses[404] == 3  # the unknown model, once per endpoint
    assert media_upstream.created == 0
    assert (account.balance(), account.held()) == (START, 0)
    assert not MediaTask.objects.exists()
    assert not Hold.objects.exists()
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.USAGE).exists()
