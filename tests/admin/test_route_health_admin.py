"""The Route admin shows each route's circuit breaker (gateway.pipeline.health) read-only:
in the route list, on the route's page and in a model's route rows."""

from __future__ import annotations

import re
from typing import Any

from django.test import Client

from catalog.models import Route
from gateway.pipeline import health
from tests.admin.rows import Registry


def test_route_list_and_pages_show_the_breaker(
    staff_client: Client, registry: Registry, settings: Any
) -> None:
    # given two routes: one that failed twice, one whose breaker opened at a known time
    settings.GATEWAY_CIRCUIT_FAILURES = 3
    second = Route.objects.create(
        model=registry.model, provider=registry.provider, upstream_model="small-v2"
    )
    for _ in range(2):
        health.route_record(registry.route.pk, ok=False)
    for _ in range(3):
        health.route_record(second.pk, ok=False, now=4_102_444_800.0)  # 2100-01-01 00:00 UTC
    health.health_cache_clear()
    # when staff open the route list
    resp = staff_client.get("/admin/catalog/route/")
    # then each row says its state
    assert resp.status_code == 200
    text = re.sub(r"\s+", " ", resp.content.decode())
    assert "closed, 2 failures" in text
    assert "open until 2100-01-01 00:00:30 UTC" in text
    # and the route's own page and its model's page show it read-only
    page = staff_client.get(f"/admin/catalog/route/{second.pk}/change/").content.decode()
    assert "open until 2100-01-01 00:00:30 UTC" in page
    assert 'name="health"' not in page
    page = staff_client.get(f"/admin/catalog/model/{registry.model.pk}/change/").content.decode()
    assert "closed, 2 failures" in page and "open until 2100-01-01 00:00:30 UTC" in page
    # and a healthy route says closed
    health.route_record(registry.route.pk, ok=True)
    resp = staff_client.get(f"/admin/catalog/route/{registry.route.pk}/change/")
    assert re.search(r">\s*closed\s*<", resp.content.decode())
