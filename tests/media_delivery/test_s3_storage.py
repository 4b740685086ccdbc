"""Task outputs in an S3-compatible bucket (django-storages' S3 backend, against a local
fake object store): stored under the prefix with the same names, served by /v1/files with
the same bytes and headers (ranges included), a losing copy deleted from the bucket."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from gateway.media.models import MediaFile
from gateway.media.storage import outputs_store
from gateway.providers.dialect import MediaOutput
from tests.media_delivery.fake_s3 import FakeS3
from tests.media_delivery.rows import output_open, task_make
from tests.media_delivery.servers import MP4, PNG

pytest.importorskip("storages.backends.s3", reason="needs the s3 extra")
pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def _s3_server() -> Iterator[FakeS3]:
    server = FakeS3().start()
    yield server
    server.stop()


@pytest.fixture
def s3(_s3_server: FakeS3, settings: Any, monkeypatch: pytest.MonkeyPatch) -> FakeS3:
    """The default storage in the fake's bucket ``outputs`` under ``gw/``, as the settings
    make it from MEDIA_S3_* (path-style addressing: the fake has no bucket host names)."""
    monkeypatch.setenv("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
    with _s3_server.lock:
        _s3_server.objects.clear()
        _s3_server.requests.clear()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "outputs",
                "endpoint_url": _s3_server.url,
                "region_name": "us-east-1",
                "access_key": "AKIDEXAMPLE",
                "secret_key": "not-a-real-secret",
                "location": "gw",
                "default_acl": None,
                "file_overwrite": False,
                "addressing_style": "path",
            },
        },
    }
    return _s3_server


def test_outputs_stored_in_the_bucket_and_served(make_account: Any, s3: FakeS3) -> None:
    task = task_make(make_account().user)
    files = outputs_store(task, [MediaOutput(data=PNG), MediaOutput(data=MP4)], output_open)
    keys = sorted(s3.objects)
    assert keys == sorted(f"/outputs/gw/{f.name}" for f in files)
    assert s3.objects[f"/outputs/gw/{files[0].name}"][0] == PNG
    assert s3.objects[f"/outputs/gw/{files[1].name}"][0] == MP4
    client = Client()
    whole = client.get(f"/v1/files/{files[0].token}")
    assert whole.status_code == 200 and whole["Content-Type"] == "image/png"
    assert b"".join(whole.streaming_content) == PNG
    part = client.get(f"/v1/files/{files[1].token}", HTTP_RANGE="bytes=4-11")
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 4-11/{len(MP4)}"
    assert b"".join(part.streaming_content) == MP4[4:12] == b"ftypisom"


def test_a_losing_copy_is_deleted_from_the_bucket(make_account: Any, s3: FakeS3) -> None:
    """A row already there for (task, 0), made by another caller: this caller's copy goes."""
    task = task_make(make_account().user)
    MediaFile.objects.create(
        token="t" * 43, task=task, index=0, name="media/other.png", content_type="image/png"
    )
    from gateway.media import storage

    found = storage._store_one(task, 0, MediaOutput(data=PNG), output_open)
    assert found.token == "t" * 43
    assert s3.objects == {}
    assert [m for m, _ in s3.requests].count("DELETE") == 1
