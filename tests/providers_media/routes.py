"""Routes at the fake media upstream (tests.fakes.media) for the dialect tests."""

from __future__ import annotations

from catalog.selectors import RouteInfo
from tests.fakes.media import FakeMedia
from tests.fakes.media_fixtures import MEDIA_KEY_ENV


def route_at(fake: FakeMedia, dialect: str, upstream_model: str) -> RouteInfo:
    """A route of ``dialect`` to the fake: OpenAI's base URL ends in ``/v1``, Replicate's
    has none; the key is read from ``MEDIA_KEY_ENV``."""
    base = fake.url + "/v1" if dialect == "openai" else fake.url
    return RouteInfo(
        id=1,
        provider_slug="fake-media",
        provider_name="Fake media",
        dialect=dialect,
        base_url=base,
        api_key_env=MEDIA_KEY_ENV,
        upstream_model=upstream_model,
        priority=100,
        weight=1,
    )


def body(kind: str, prompt: str = "a red fox", **fields: object) -> dict[str, object]:
    """A canonical media body: every field present, None unless given."""
    base: dict[str, object] = {
        "kind": kind,
        "prompt": prompt,
        "n": None,
        "size": None,
        "quality": None,
        "duration": None,
        "resolution": None,
        "input_mode": None,
        "image_url": None,
    }
    return {**base, **fields}


def read_all(resp: object) -> bytes:
    """An output's whole body, read as the storage reads it (``read1`` to the end)."""
    pieces = []
    while piece := resp.read1(65536):  # type: ignore[attr-defined]
        pieces.append(piece)
    resp.close()  # type: ignore[attr-defined]
    return b"".join(pieces)
