"""outputs_store: each output copied once to the storage under its unguessable name, its
type sniffed, capped in size; concurrent callers get the same rows and leave no orphaned
file; a failure stores nothing."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.db import connection

from gateway.media.models import MediaFile
from gateway.media.storage import StorageFailed, content_type_of, outputs_store
from gateway.providers.dialect import MediaOutput
from tests.media_delivery.conftest import stored_files
from tests.media_delivery.rows import output_open, task_make
from tests.media_delivery.servers import GIF, JPEG, MP3, MP4, PNG, WAV, WEBP, FileHost

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("head", "declared", "expected"),
    [
        (PNG, "", "image/png"),
        (JPEG, "", "image/jpeg"),
        (WEBP, "", "image/webp"),
        (GIF, "", "image/gif"),
        (MP4, "", "video/mp4"),
        (WAV, "", "audio/wav"),
        (MP3, "", "audio/mpeg"),
        (b"\xff\xfb\x90\x00" + bytes(10), "", "audio/mpeg"),  # an MPEG frame, no ID3 tag
        (PNG, "image/jpeg", "image/png"),  # the bytes win: nosniff serves what it is
        (b"plain text", "Text/Plain; charset=utf-8", "text/plain"),
        (b"plain text", "not a type", "application/octet-stream"),
        (b"plain text", "", "application/octet-stream"),
    ],
)
def test_content_type(head: bytes, declared: str, expected: str) -> None:
    assert content_type_of(head[:16], declared) == expected


def test_inline_and_linked_outputs_are_copied(
    make_account: Any, file_host: FileHost, media_root: Path
) -> None:
    task = task_make(make_account().user)
    url = file_host.put("/files/fox.mp4", MP4, "video/mp4")
    files = outputs_store(task, [MediaOutput(data=PNG), MediaOutput(url=url)], output_open)
    assert [(f.index, f.content_type, f.size) for f in files] == [
        (0, "image/png", len(PNG)),
        (1, "video/mp4", len(MP4)),
    ]
    prefix = f"media/{task.user_id}/{task.public_id}/"
    assert re.fullmatch(re.escape(prefix) + r"0-[A-Za-z0-9_-]{43}\.png", files[0].name)
    assert re.fullmatch(re.escape(prefix) + r"1-[A-Za-z0-9_-]{43}\.mp4", files[1].name)
    assert files[0].name.endswith(f"0-{files[0].token}.png")
    assert files[0].source_url == "" and files[1].source_url == url
    with default_storage.open(files[1].name, "rb") as handle:
        assert handle.read() == MP4
    assert stored_files(media_root) == sorted(f.name for f in files)
    # the provider's link expires: the copy stays
    file_host.expire("/files/fox.mp4")
    with default_storage.open(files[1].name, "rb") as handle:
        assert handle.read() == MP4


def test_a_second_call_returns_the_rows_and_fetches_nothing(
    make_account: Any, file_host: FileHost, media_root: Path
) -> None:
    task = task_make(make_account().user)
    url = file_host.put("/files/a.png", PNG)
    first = outputs_store(task, [MediaOutput(url=url)], output_open)
    again = outputs_store(task, [MediaOutput(url=url)], output_open)
    assert [f.pk for f in again] == [f.pk for f in first]
    assert file_host.fetches == ["/files/a.png"]
    assert len(stored_files(media_root)) == 1


def test_partial_failure_keeps_what_was_stored_and_the_retry_completes(
    make_account: Any, file_host: FileHost, media_root: Path
) -> None:
    task = task_make(make_account().user)
    url = f"{file_host.url}/files/late.png"
    outputs = [MediaOutput(data=JPEG), MediaOutput(url=url)]
    with pytest.raises(StorageFailed, match="404"):
        outputs_store(task, outputs, output_open)
    assert list(MediaFile.objects.filter(task=task).values_list("index", flat=True)) == [0]
    file_host.put("/files/late.png", PNG)
    files = outputs_store(task, outputs, output_open)
    assert [(f.index, f.content_type) for f in files] == [(0, "image/jpeg"), (1, "image/png")]
    assert len(stored_files(media_root)) == 2


def test_size_cap(make_account: Any, file_host: FileHost, media_root: Path, settings: Any) -> None:
    settings.GATEWAY_MEDIA_MAX_BYTES = len(PNG) - 1
    task = task_make(make_account().user)
    with pytest.raises(StorageFailed, match="larger than"):
        outputs_store(task, [MediaOutput(data=PNG)], output_open)
    url = file_host.put("/files/big.png", PNG)
    with pytest.raises(StorageFailed, match="larger than"):
        outputs_store(task, [MediaOutput(url=url)], output_open)
    settings.GATEWAY_MEDIA_MAX_BYTES = len(PNG)
    assert [f.size for f in outputs_store(task, [MediaOutput(url=url)], output_open)] == [len(PNG)]
    assert len(stored_files(media_root)) == 1


def test_unreachable_and_empty_outputs_fail(make_account: Any, media_root: Path) -> None:
    task = task_make(make_account().user)
    with pytest.raises(StorageFailed, match="could not be fetched"):
        outputs_store(task, [MediaOutput(url="http://127.0.0.1:9/gone.png")], output_open)
    with pytest.raises(StorageFailed, match="empty"):
        outputs_store(task, [MediaOutput(data=b"")], output_open)
    with pytest.raises(StorageFailed, match="neither"):
        outputs_store(task, [MediaOutput()], output_open)
    assert MediaFile.objects.count() == 0
    assert stored_files(media_root) == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_callers_store_each_output_once(
    make_account: Any, file_host: FileHost, media_root: Path
) -> None:
    """Eight callers at a barrier: one row per output, every caller answered those rows, and
    the copies of the callers that lost the insert are deleted."""
    task = task_make(make_account().user)
    urls = [file_host.put(f"/files/{i}.png", PNG + bytes([i])) for i in range(3)]
    outputs = [MediaOutput(url=u) for u in urls]
    barrier = threading.Barrier(8)
    answers: list[list[int]] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            barrier.wait()
            answers.append([f.pk for f in outputs_store(task, outputs, output_open)])
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = list(MediaFile.objects.filter(task=task).order_by("index"))
    assert [r.index for r in rows] == [0, 1, 2]
    assert [r.size for r in rows] == [len(PNG) + 1] * 3
    # SQLite's one writer may time a caller out; every caller that answered got the rows
    assert len(answers) + len(errors) == 8 and len(answers) >= 1
    assert all(a == [r.pk for r in rows] for a in answers)
    assert stored_files(media_root) == sorted(r.name for r in rows)
