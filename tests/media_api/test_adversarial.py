"""Hostile requests to the media API: each is a 4xx in the error shape (or a correct
answer), never a 500 and never a charge."""

from __future__ import annotations

import threading
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from billing.models import Hold
from gateway.media.models import MediaTask
from tests.factories import AccountFactory
from tests.fakes.media import FakeMedia
from tests.helpers import ApiClient
from tests.media_api.conftest import START

pytestmark = pytest.mark.usefixtures("media_models")

PATHS = ["/v1/images/generations", "/v1/videos", "/v1/music/generations"]
MODEL = {
    "/v1/images/generations": "acme/pic",
    "/v1/videos": "acme/vid",
    "/v1/music/generations": "acme/song",
}
RAWS = [
    b'{"model":"M","prompt":"p","duration":NaN}',
    b'{"model":"M","prompt":"p","duration":Infinity}',
    b'{"model":"M","prompt":"p","duration":-Infinity}',
    b'{"model":"M","prompt":"p","duration":1e308}',
    b'{"model":"M","prompt":"p","duration":-1}',
    b'{"model":"M","prompt":"p","duration":0}',
    b'{"model":"M","prompt":"p","duration":"5"}',
    b'{"model":"M","prompt":"p","duration":4.5}',
    b'{"model":"M","prompt":"p","n":1000000000}',
    b'{"model":"M","prompt":"p","n":0}',
    b'{"model":"M","prompt":"p","n":-1}',
    b'{"model":"M","prompt":"p","n":2.5}',
    b'{"model":"M","prompt":"p","n":true}',
    b'{"model":"M","prompt":"p","n":99999999999999999999999}',
    b'{"model":"M","prompt":"p","max_credits":0}',
    b'{"model":"M","prompt":"p","max_credits":-5}',
    b'{"model":"M","prompt":"p","max_credits":1.5}',
    b'{"model":"M","prompt":"p","max_credits":"1e9"}',
    b'{"model":"M","prompt":"p","max_credits":NaN}',
    b'{"model":"M","prompt":"p","max_credits":1e400}',
    b'{"model":"M","prompt":"p","max_credits":true}',
    b'{"model":"M","prompt":"p","max_credits":99999999999999999999999999}',
    b'{"model":["M"],"prompt":"p"}',
    b'{"model":"M","prompt":{"a":[1]}}',
    b'{"model":"M","prompt":""}',
    b'{"model":"M","prompt":"\\ud800"}',
    b'{"model":"M","prompt":"' + b"x" * 300000 + b'"}',
    b'{"model":"M\\u0000","prompt":"p"}',
    b'{"model":"M","prompt":"p","size":"99999x99999"}',
    b'{"model":"M","prompt":"p","resolution":{"x":1}}',
    b'{"model":"M","prompt":"p","input_mode":"x"}',
    b'{"model":"M","prompt":"p","image_url":"file:///etc/passwd","input_mode":"image-to-video"}',
    b'{"model":"M","prompt":"p","response_format":"b64_json"}',
    b"",
    b"   ",
    b"\xff\xfe",
    b"model=M&prompt=p",
    b"[" * 5000,
    b'{"a":' * 3000,
]
HOOKS = [
    "http://127.0.0.1/x",
    "http://localhost/x",
    "http://[::1]/x",
    "http://[::ffff:127.0.0.1]/x",
    "http://[::ffff:7f00:1]/x",
    "http://2130706433/x",
    "http://0x7f000001/x",
    "http://0177.0.0.1/x",
    "http://127.1/x",
    "http://0/x",
    "http://0.0.0.0/x",
    "http://169.254.169.254/latest",
    "http://10.0.0.1/x",
    "http://192.168.1.1/x",
    "http://[fe80::1]/x",
    "http://[fc00::1]/x",
    "http://evil@127.0.0.1/x",
    "http://93.184.216.34@127.0.0.1/x",
    "http://127.0.0.1#@93.184.216.34/",
    "http://127.0.0.1:80\\@93.184.216.34/",
    "gopher://93.184.216.34/",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "ftp://93.184.216.34/",
    "https://93.184.216.34/" + "a" * 10000,
    "http://100.64.0.1/x",
    "http://[::]/x",
    "http:///x",
    "http://93.184.216.34:99999/",
    "",
    5,
]


def _check(resp: Any, where: Any) -> None:
    assert resp.status_code < 500, (where, resp.status_code, resp.content[:300])
    if resp.status_code >= 400:
        error = resp.json()["error"]
        assert set(error) == {"message", "type", "code", "param"}, where


def test_hostile_media_bodies(
    db: None, api: ApiClient, make_account: AccountFactory, media_upstream: FakeMedia, settings: Any
) -> None:
    settings.GATEWAY_CALLBACKS_ALLOW_PRIVATE = False
    account = make_account(START, ignore_tier=True)
    ok: list[Any] = []
    for path in [*PATHS, "/v1/credits/estimate"]:
        model = MODEL.get(path, "acme/vid")
        for raw in RAWS:
            raw = raw.replace(b'"M"', b'"' + model.encode() + b'"')
            for ctype in ("application/json", "text/plain"):
                resp = api.client.post(path, data=raw, content_type=ctype, **account.headers)
                _check(resp, (path, raw[:80], ctype))
                if resp.status_code < 300:
                    ok.append((path, raw[:80], resp.status_code))
        if path != "/v1/credits/estimate":
            for hook in HOOKS:
                resp = api.post(
                    path, {"model": model, "prompt": "p", "callback_url": hook}, account=account
                )
                _check(resp, (path, hook))
                assert resp.status_code == 400, (path, hook, resp.content)
    print("ACCEPTED", *ok, sep="\n")
    print("TASKS", [(t.kind, t.status) for t in MediaTask.objects.all()])


def test_files_and_tasks_hostile(
    db: None, api: ApiClient, make_account: AccountFactory, media_upstream: FakeMedia
) -> None:
    account = make_account(START, ignore_tier=True)
    other = make_account(START, ignore_tier=True)
    resp = api.post("/v1/images/generations", {"model": "acme/pic", "prompt": "p"}, account=account)
    assert resp.status_code == 200, resp.content
    url = resp.json()["data"][0]["url"]
    path = url[url.index("/v1/files/") :] if "/v1/files/" in url else url
    task_id = resp.json()["task_id"]
    for tid in [
        "../../etc/passwd",
        "..%2f..%2fetc",
        "%00",
        "a" * 5000,
        "task_" + "0" * 100,
        "1",
        "-1",
        "' OR 1=1--",
        "task_%ff",
        "%e2%80%ae",
    ]:
        for r in (
            api.get(f"/v1/tasks/{tid}", account=account),
            api.post(f"/v1/tasks/{tid}/cancel", account=account),
        ):
            _check(r, tid)
            assert r.status_code == 404, (tid, r.status_code)
    assert api.get(f"/v1/tasks/{task_id}", account=other).status_code == 404
    for tok in ["..%2f..%2fsettings.py", "%2e%2e", "a" * 5000, "%00"]:
        r = api.get("/v1/files/" + tok)
        assert r.status_code == 404, (tok, r.status_code)
    full = api.get(path)
    assert full.status_code == 200
    size = len(b"".join(full.streaming_content)) if full.streaming else len(full.content)
    for rng in [
        "bytes=0-99999999999999999999999999",
        "bytes=-99999999999999999999",
        "bytes=5-1",
        "bytes=abc",
        "bytes=0-0,1-1",
        "bytes=--1",
        "items=0-1",
        "bytes=" + "9" * 5000,
        f"bytes={size}-",
        "bytes=-0",
        "bytes= 0 - 1",
        "bytes=0-1\x00",
        "bytes=\u0660-1",
    ]:
        r = api.get(path, HTTP_RANGE=rng)
        assert r.status_code in (200, 206, 416), (rng, r.status_code)
        print("RANGE", repr(rng), r.status_code, r.get("Content-Range"))


@pytest.mark.django_db(transaction=True)
def test_concurrent_cancels_and_polls(
    api: ApiClient, make_account: AccountFactory, media_upstream: FakeMedia, media_models: Any
) -> None:
    account = make_account(START, ignore_tier=True)
    task_id = api.post(
        "/v1/videos", {"model": "acme/vid-never", "prompt": "p", "duration": 4}, account=account
    ).json()["id"]
    codes: list[int] = []
    barrier = threading.Barrier(12)

    def hit(i: int) -> None:
        client = ApiClient()
        barrier.wait()
        try:
            if i % 2:
                codes.append(
                    client.post(f"/v1/tasks/{task_id}/cancel", account=account).status_code
                )
            else:
                codes.append(-client.get(f"/v1/tasks/{task_id}", account=account).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=hit, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("CODES", sorted(codes))
    # a cancel of a cancelled task answers it again: six 200s, one release (openai videos
    # have no upstream cancel)
    assert sorted(codes) == [-200] * 6 + [200] * 6, codes
    assert (account.balance(), account.held(), media_upstream.cancels) == (START, 0, 0)
    assert MediaTask.objects.get().status == "cancelled"
    assert not Hold.objects.exists()
    out = StringIO()
    call_command("verify_ledger", stdout=out)
    print("LEDGER", out.getvalue())
