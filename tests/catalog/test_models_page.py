"""The public models page (/models/): the enabled catalog with the same models, prices,
context lengths, modalities and providers as /v1/models, filtered by GET parameters."""

from __future__ import annotations

from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.test import Client

from catalog.models import Model, ModelAlias, Provider, Route
from catalog.selectors import catalog_invalidate
from catalog.units import PRICE_UNITS

PER_TOKEN = {u.api_key for u in PRICE_UNITS if u.is_per_token}


class Cards(HTMLParser):
    """Each ``article.model`` as {"id", "prices": {api_key: text}, "fields": {name: text}}."""

    def __init__(self) -> None:
        super().__init__()
        self.cards: list[dict] = []
        self._into: tuple[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "article" and "model" in (a.get("class") or ""):
            self.cards.append({"id": a["data-id"], "prices": {}, "fields": {}})
        elif a.get("data-price"):
            self._into = ("prices", a["data-price"] or "")
        elif a.get("data-field"):
            self._into = ("fields", a["data-field"] or "")

    def handle_data(self, data: str) -> None:
        if self._into and self.cards:
            kind, name = self._into
            self.cards[-1][kind][name] = self.cards[-1][kind].get(name, "") + data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("span", "dd", "p"):
            self._into = None


def cards_of(body: str) -> list[dict]:
    parser = Cards()
    parser.feed(body)
    return parser.cards


@pytest.fixture
def catalog(db: None) -> None:
    """Two providers; a text model, a vision model with per-unit prices, an image model,
    a free model, and a disabled one."""
    acme = Provider.objects.create(slug="acme", name="Acme", dialect="openai")
    zeta = Provider.objects.create(slug="zeta", name="Zeta Labs", dialect="anthropic")
    small = Model.objects.create(
        public_id="acme/small",
        name="Acme Small",
        price_prompt=Decimal("1.760000000"),
        price_completion=Decimal("7.92"),
        context_length=128_000,
    )
    ModelAlias.objects.create(model=small, alias="small")
    vision = Model.objects.create(
        public_id="zeta/vision",
        name="Zeta Vision",
        price_prompt=Decimal("3"),
        price_completion=Decimal("15"),
        price_cache_read=Decimal("0.3"),
        price_cache_write=Decimal("3.75"),
        price_request=Decimal("0.001"),
        price_audio_second=Decimal("0.000125"),
        input_modalities=["text", "image"],
        context_length=200_000,
    )
    painter = Model.objects.create(
        public_id="zeta/painter",
        name="Painter",
        price_prompt=Decimal(0),
        price_completion=Decimal(0),
        price_image=Decimal("0.04"),
        output_modalities=["image"],
    )
    free = Model.objects.create(
        public_id="acme/free", name="Free", price_prompt=Decimal(0), price_completion=Decimal(0)
    )
    hidden = Model.objects.create(public_id="acme/hidden", name="Hidden", is_enabled=False)
    for model, provider in [
        (small, acme),
        (vision, zeta),
        (vision, acme),
        (painter, zeta),
        (free, acme),
        (hidden, acme),
    ]:
        Route.objects.create(model=model, provider=provider, upstream_model=model.public_id)
    catalog_invalidate()


def test_every_model_and_price_equals_v1_models(catalog: None) -> None:
    # given the catalog, as /v1/models serves it
    client = Client()
    api = client.get("/v1/models").json()["data"]
    # when anyone (no login) opens the models page
    resp = client.get("/models/")
    assert resp.status_code == 200
    cards = {c["id"]: c for c in cards_of(resp.content.decode())}
    # then it lists exactly the enabled models, in the same order
    assert [c["id"] for c in cards_of(resp.content.decode())] == [m["id"] for m in api]
    assert "acme/hidden" not in cards
    for entry in api:
        card = cards[entry["id"]]
        fields = card["fields"]
        assert fields["context_length"] == f"{entry['context_length']:,} tokens"
        assert fields["input_modalities"] == ", ".join(entry["architecture"]["input_modalities"])
        assert fields["output_modalities"] == ", ".join(entry["architecture"]["output_modalities"])
        names = {"acme": "Acme", "zeta": "Zeta Labs"}
        assert fields["providers"] == ", ".join(names[p] for p in entry["providers"])
        usd = {k: Decimal(v) for k, v in entry["pricing"].items()}
        if not any(usd.values()):
            assert fields["free"] == "Free" and card["prices"] == {}
            continue
        # per-token prices are USD per token in the API: the page shows them per 1M tokens
        expected = {k: (v * 1_000_000 if k in PER_TOKEN else v) for k, v in usd.items()}
        shown = {k: Decimal(v.removeprefix("$")) for k, v in card["prices"].items()}
        assert shown == expected, entry["id"]
    # and the numbers are the ones set, normalized (not 1.760000000)
    assert cards["acme/small"]["prices"]["prompt"] == "$1.76"
    assert cards["zeta/vision"]["prices"]["audio_second"] == "$0.000125"
    assert cards["zeta/painter"]["prices"]["image"] == "$0.04"
    assert set(cards["zeta/vision"]["prices"]) == {
        "prompt",
        "completion",
        "input_cache_read",
        "input_cache_write",
        "request",
        "image",
        "audio_second",
    }


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        ("", ["acme/free", "acme/small", "zeta/painter", "zeta/vision"]),
        ("?output=image", ["zeta/painter"]),
        ("?input=image", ["zeta/vision"]),
        ("?provider=zeta", ["zeta/painter", "zeta/vision"]),
        ("?provider=acme&output=text", ["acme/free", "acme/small", "zeta/vision"]),
        ("?provider=zeta&input=image&output=text", ["zeta/vision"]),
        ("?provider=acme&output=image", []),
    ],
)
def test_filters_by_modality_and_provider(catalog: None, query: str, ids: list[str]) -> None:
    resp = Client().get("/models/" + query)
    assert resp.status_code == 200
    assert [c["id"] for c in cards_of(resp.content.decode())] == ids
    if not ids:
        assert "No model matches these filters." in resp.content.decode()


def test_an_unknown_filter_value_is_an_error_next_to_its_field(catalog: None) -> None:
    resp = Client().get("/models/?output=smell&provider=zeta")
    body = resp.content.decode()
    # the bad value filters nothing and says why; the good one still applies
    assert resp.status_code == 200
    assert 'id="id_output_error"' in body and "Select a valid choice" in body
    assert [c["id"] for c in cards_of(body)] == ["zeta/painter", "zeta/vision"]


def test_the_filter_form_offers_what_the_catalog_holds(catalog: None) -> None:
    body = Client().get("/models/?provider=zeta").content.decode()
    assert '<option value="zeta" selected>Zeta Labs</option>' in body
    assert '<option value="image">image</option>' in body
    assert 'method="get"' in body
    assert "acme/hidden" not in body  # a disabled model is not offered, nor its provider's
