"""The JSON catalog: import is idempotent and matches on slug / id; export round-trips."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Model, ModelAlias, Provider, Route
from catalog.selectors import model_resolve
from catalog.services import CatalogError, catalog_export, catalog_import
from tests.factories import AccountFactory, ModelFactory
from tests.fakes.upstream import FakeUpstream
from tests.helpers import ApiClient

DEMO = Path(__file__).resolve().parents[2] / "catalog" / "demo_catalog.json"


@pytest.fixture
def demo(db: None) -> dict:
    return json.loads(DEMO.read_text())


def test_demo_catalog_has_the_reference_prices(demo):
    # when the demo catalog is imported
    catalog_import(data=demo)
    # then the reference models carry their list prices (USD per 1M tokens / per image)
    prices = {
        m.public_id: (m.price_prompt, m.price_completion, m.price_image)
        for m in Model.objects.all()
    }
    assert prices["openai/gpt-5.5"][:2] == (Decimal("1.32"), Decimal("7.92"))
    assert prices["openai/gpt-5.3-codex"][:2] == (Decimal("0.46"), Decimal("3.70"))
    assert prices["anthropic/claude-opus-4.8"][:2] == (Decimal("1.76"), Decimal("8.81"))
    assert prices["anthropic/claude-sonnet-4.6"][:2] == (Decimal("1.06"), Decimal("5.28"))
    assert prices["google/nano-banana"][2] == Decimal("0.02")
    assert prices["openai/gpt-image-2"][2] == Decimal("0.10")
    sandbox = model_resolve(name="sandbox")
    assert sandbox is not None and sandbox.prices.is_free
    assert Provider.objects.get(slug="sandbox").dialect == "sandbox"


def test_import_twice_changes_nothing_and_updates_in_place(demo):
    # given the demo catalog imported once
    catalog_import(data=demo)
    counts = (
        Provider.objects.count(),
        Model.objects.count(),
        Route.objects.count(),
        ModelAlias.objects.count(),
    )
    # when it is imported again with one price changed
    demo["models"][0]["pricing"]["prompt"] = "1.40"
    report = catalog_import(data=demo)
    # then nothing is duplicated and the price is updated in place
    assert (
        (
            Provider.objects.count(),
            Model.objects.count(),
            Route.objects.count(),
            ModelAlias.objects.count(),
        )
        == counts
        == (4, 10, 10, 7)
    )
    assert report.models == 10
    assert Model.objects.get(public_id=demo["models"][0]["id"]).price_prompt == Decimal("1.40")


def test_export_round_trips_through_import(demo):
    # given the demo catalog
    catalog_import(data=demo)
    exported = catalog_export()
    # when the export is imported into an emptied registry
    Route.objects.all().delete()
    ModelAlias.objects.all().delete()
    Model.objects.all().delete()
    Provider.objects.all().delete()
    catalog_import(data=exported)
    # then the registry exports identically
    assert catalog_export() == exported


def test_routes_left_out_of_a_file_are_disabled_not_deleted(demo):
    catalog_import(data=demo)
    gpt = next(m for m in demo["models"] if m["id"] == "openai/gpt-5.5")
    gpt["routes"] = [{"provider": "google", "upstream_model": "gpt-x", "priority": 1}]
    catalog_import(data=demo)
    routes = Route.objects.filter(model__public_id="openai/gpt-5.5")
    assert {(r.provider.slug, r.is_enabled) for r in routes} == {
        ("openai", False),
        ("google", True),
    }


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["providers"][0].update(dialect="soap"), "dialect"),
        (lambda d: d["models"][0]["pricing"].update(prompt="cheap"), "not a decimal"),
        (lambda d: d["models"][0]["pricing"].update(prompt="-1"), ">= 0"),
        (lambda d: d["models"][0]["routes"][0].update(provider="nobody"), "unknown provider"),
        (lambda d: d["models"][1].update(aliases=["gpt-5.5"]), "already names"),
    ],
)
def test_bad_catalogs_are_refused_whole(demo, mutate, message):
    # given a catalog with one mistake
    mutate(demo)
    # when it is imported, then it is refused with the reason and nothing is written
    with pytest.raises(CatalogError, match=message):
        catalog_import(data=demo)
    assert Model.objects.count() == 0 and Provider.objects.count() == 0


def test_commands_import_and_export(demo, tmp_path, capsys):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(demo))
    call_command("catalog_import", str(path))
    assert "10 models" in capsys.readouterr().out
    call_command("catalog_export")
    assert json.loads(capsys.readouterr().out) == catalog_export()
    with pytest.raises(CommandError):
        call_command("catalog_import", str(tmp_path / "missing.json"))


def test_model_without_prices_is_billed_at_the_fallback_prices(
    api: ApiClient,
    make_model: ModelFactory,
    make_account: AccountFactory,
    upstream: FakeUpstream,
    settings,
):
    # given a model with no prices, fallback prices of $50 / $200 per 1M tokens
    settings.BILLING_FALLBACK_PROMPT_PRICE = Decimal("50")
    settings.BILLING_FALLBACK_COMPLETION_PRICE = Decimal("200")
    from catalog.selectors import catalog_invalidate

    catalog_invalidate()
    make_model("test/unpriced", prompt=None, completion=None, request=None)
    account = make_account(1_000_000)
    # when it is called (the fake reports 10 prompt tokens, 4 completion words)
    resp = api.post(
        "/v1/chat/completions",
        {
            "model": "test/unpriced",
            "max_tokens": 20,
            "messages": [{"role": "user", "content": "one two three"}],
        },
        account=account,
    )
    # then the fallback prices apply: 10 x 50 + 4 x 200 = 1,300 credits
    assert resp.status_code == 200, resp.content
    assert resp.json()["usage"]["cost"] == math.ceil(10 * 50 + 4 * 200) == 1300
    assert account.balance() == 1_000_000 - 1300
