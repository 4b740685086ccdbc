"""The migration adding the cache-write and per-second price columns keeps every price a
model had, to the last of its nine decimal places."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from catalog.models import Model

BEFORE = [("catalog", "0003_provider_api_key_env_validate")]
AFTER = [("catalog", "0004_price_cache_write_video_audio_seconds")]
PRICES = {
    "price_prompt": Decimal("1.320000001"),
    "price_completion": Decimal("7.92"),
    "price_cache_read": None,
    "price_request": Decimal("0.000200000"),
    "price_image": Decimal("0"),
}


@pytest.mark.django_db(transaction=True)
def test_the_new_price_columns_keep_the_existing_prices() -> None:
    # given a model priced before the new units existed
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old_model = executor.loader.project_state(BEFORE).apps.get_model("catalog", "Model")
    old_model.objects.create(public_id="acme/old", name="Old", **PRICES)
    try:
        # when the registry is migrated
        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)
        model = Model.objects.get(public_id="acme/old")
        # then its prices are exactly what they were, and the new units are unset
        assert {name: getattr(model, name) for name in PRICES} == PRICES
        assert (model.price_cache_write, model.price_video_second, model.price_audio_second) == (
            None,
            None,
            None,
        )
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
