"""Fixtures of the delivery tests: outputs stored under a temporary MEDIA_ROOT, a callback
receiver and a provider's file host (real local HTTP servers), and private callback
addresses allowed where a test says so (the servers listen on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.media_delivery.servers import FileHost, Receiver


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    root = tmp_path / "media-root"
    root.mkdir()
    settings.MEDIA_ROOT = str(root)
    return root


@pytest.fixture(scope="session")
def _receiver_server() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def receiver(_receiver_server: Receiver, settings: Any) -> Receiver:
    """The receiver, emptied, answering 200; private callback URLs allowed to reach it."""
    settings.GATEWAY_CALLBACKS_ALLOW_PRIVATE = True
    return _receiver_server.reset()


@pytest.fixture(scope="session")
def _file_host_server() -> Iterator[FileHost]:
    server = FileHost().start()
    yield server
    server.stop()


@pytest.fixture
def file_host(_file_host_server: FileHost) -> FileHost:
    with _file_host_server.lock:
        _file_host_server.files.clear()
        _file_host_server.fetches.clear()
    return _file_host_server


def stored_files(root: Path) -> list[str]:
    """Every file under ``root``, relative, sorted."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
