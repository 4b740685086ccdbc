"""Fixtures of the fake media upstream (tests.fakes.media), registered in tests/conftest.py:
``fake_media``, one server for the session, and ``media_upstream``, the same server emptied
for a test, expecting ``MEDIA_SECRET`` (set in ``MEDIA_KEY_ENV`` for the test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.media import FakeMedia

MEDIA_KEY_ENV = "FAKE_MEDIA_API_KEY"  # the environment variable of the fake's key
MEDIA_SECRET = "media-secret"  # the key the fake media upstream expects


@pytest.fixture(scope="session")
def fake_media() -> Iterator[FakeMedia]:
    server = FakeMedia(api_key=MEDIA_SECRET).start()
    yield server
    server.stop()


@pytest.fixture
def media_upstream(fake_media: FakeMedia, monkeypatch: pytest.MonkeyPatch) -> FakeMedia:
    """The fake media upstream with no job, file, request or count left from another test,
    expecting ``MEDIA_SECRET``, which ``MEDIA_KEY_ENV`` holds for this test."""
    monkeypatch.setenv(MEDIA_KEY_ENV, MEDIA_SECRET)
    return fake_media.reset(api_key=MEDIA_SECRET)
