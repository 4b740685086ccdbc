"""/v1/files/<token>: the stored bytes with their headers, stable links (the same URL, the
same bytes, however often), byte ranges for players, an unknown token answered 404 in the
API's shape, and a link that keeps working after the provider's URL is gone."""

from __future__ import annotations

import hashlib
import http.client
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client

from gateway.media.models import MediaFile
from gateway.media.serialize import task_body
from gateway.media.storage import outputs_store
from gateway.providers.dialect import MediaOutput
from tests.media_delivery.rows import output_open, task_make
from tests.media_delivery.servers import MP4, PNG, FileHost

pytestmark = pytest.mark.django_db


def body_of(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def stored(make_account: Any, *outputs: MediaOutput) -> list[MediaFile]:
    return outputs_store(task_make(make_account().user), list(outputs), output_open)


@pytest.mark.parametrize("prefix", ["/v1", "/api/v1"])
def test_the_bytes_and_headers(make_account: Any, prefix: str) -> None:
    (media,) = stored(make_account, MediaOutput(data=PNG))
    response = Client().get(f"{prefix}/files/{media.token}")
    assert response.status_code == 200
    assert body_of(response) == PNG
    assert response["Content-Type"] == "image/png"
    assert response["Content-Length"] == str(len(PNG))
    assert response["Cache-Control"] == "private, max-age=31536000, immutable"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox"
    assert response["Accept-Ranges"] == "bytes"
    etag = '"' + hashlib.sha256(media.token.encode()).hexdigest()[:32] + '"'
    assert response["ETag"] == etag
    again = Client().get(f"{prefix}/files/{media.token}", HTTP_IF_NONE_MATCH=etag)
    assert (again.status_code, again.content) == (304, b"")


def test_unknown_tokens_are_404_in_the_api_shape(make_account: Any) -> None:
    stored(make_account, MediaOutput(data=PNG))
    for token in ["A" * 43, "short", "bad%20chars", "x" * 65]:
        response = Client().get(f"/v1/files/{token}")
        assert response.status_code == 404, token
        assert response.json() == {
            "error": {
                "message": "No such file",
                "type": "not_found_error",
                "code": "file_not_found",
                "param": None,
            }
        }
    posted = Client().post(f"/v1/files/{'A' * 43}")
    assert posted.status_code == 405 and posted.json()["error"]["code"] == "method_not_allowed"


def test_a_missing_stored_file_is_404(make_account: Any, media_root: Any) -> None:
    (media,) = stored(make_account, MediaOutput(data=PNG))
    (media_root / media.name).unlink()
    assert Client().get(f"/v1/files/{media.token}").status_code == 404


@pytest.mark.parametrize(
    ("header", "status", "content_range", "part"),
    [
        ("bytes=0-9", 206, "bytes 0-9/{n}", slice(0, 10)),
        ("bytes=10-", 206, "bytes 10-{last}/{n}", slice(10, None)),
        ("bytes=-16", 206, "bytes {tail}-{last}/{n}", slice(-16, None)),
        ("bytes=5-100000", 206, "bytes 5-{last}/{n}", slice(5, None)),
        ("bytes=0-1,4-5", 200, None, slice(None)),  # several ranges: the whole file
        ("bytes=100000-", 416, "bytes */{n}", None),
        ("bytes=-0", 416, "bytes */{n}", None),
    ],
)
def test_byte_ranges(
    make_account: Any, header: str, status: int, content_range: str | None, part: Any
) -> None:
    (media,) = stored(make_account, MediaOutput(data=MP4))
    n = len(MP4)
    response = Client().get(f"/v1/files/{media.token}", HTTP_RANGE=header)
    assert response.status_code == status
    expected = None if content_range is None else content_range.format(n=n, last=n - 1, tail=n - 16)
    assert response.get("Content-Range") == expected
    if part is not None:
        assert body_of(response) == MP4[part]
        assert response["Content-Length"] == str(len(MP4[part]))


def test_head_answers_headers_only(make_account: Any) -> None:
    (media,) = stored(make_account, MediaOutput(data=MP4))
    response = Client().head(f"/v1/files/{media.token}")
    assert response.status_code == 200
    assert response["Content-Length"] == str(len(MP4))
    assert response["Content-Type"] == "video/mp4"
    assert body_of(response) == b""


@pytest.mark.django_db(transaction=True)
def test_links_are_stable_and_outlive_the_providers_url(
    make_account: Any, file_host: FileHost, live_server: Any
) -> None:
    """Over real HTTP (the project's handler): the task's links, read twice before and
    twice after the provider's URL stops answering, give the same bytes."""
    task = task_make(make_account().user, origin=live_server.url)
    video = file_host.put("/files/clip.mp4", MP4, "video/mp4")
    image = file_host.put("/files/still.png", PNG, "image/png")
    outputs_store(task, [MediaOutput(url=video), MediaOutput(url=image)], output_open)
    links = [o["url"] for o in task_body(task, task.origin)["output"]]
    assert [urlsplit(u).path[:10] for u in links] == ["/v1/files/"] * 2

    def fetch(url: str) -> tuple[int, str, bytes]:
        parts = urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        conn.request("GET", parts.path)
        response = conn.getresponse()
        result = (response.status, response.getheader("Content-Type"), response.read())
        conn.close()
        return result

    before = [fetch(u) for u in links * 2]
    file_host.expire("/files/clip.mp4")
    file_host.expire("/files/still.png")
    gone = http.client.HTTPConnection("127.0.0.1", file_host.server_address[1], timeout=5)
    gone.request("GET", "/files/clip.mp4")
    assert gone.getresponse().status == 404
    gone.close()
    after = [fetch(u) for u in links * 2]
    expected = [(200, "video/mp4", MP4), (200, "image/png", PNG)] * 2
    assert before == expected and after == expected
    assert file_host.fetches == ["/files/clip.mp4", "/files/still.png", "/files/clip.mp4"]
