"""prometheus-client's multiprocess mode: processes writing into one
``PROMETHEUS_MULTIPROC_DIR`` (the gunicorn workers, and ./run's Celery worker) are summed by
the scrape, which any of them may answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ops.scrape import run_django, value

pytestmark = pytest.mark.usefixtures("transactional_db")

WRITE = """
from gateway.models import Generation
from gateway.ops.metrics import request_observe
for i in range({n}):
    row = Generation(
        request_id=f"gen-{tag}-{{i}}", surface="chat.completions", model="test/multi",
        status="success", latency_ms=250, ttft_ms=100, prompt_tokens=10,
        completion_tokens=4, cached_tokens=2, reasoning_tokens=0,
        attempts=[{{"ms": 200}}],
    )
    request_observe(row, cost={cost})
"""

SCRAPE = """
from django.test import Client
r = Client().get("/metrics")
assert r.status_code == 200, r.status_code
print(r.content.decode())
"""


def test_the_scrape_sums_every_process_writing_into_the_directory(tmp_path: Path) -> None:
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "REDIS_URL": ""}
    # given two processes that counted 3 and 2 requests, and have ended
    run_django(WRITE.format(n=3, tag="a", cost=100), env=env)
    run_django(WRITE.format(n=2, tag="b", cost=50), env=env)
    assert len(list(tmp_path.glob("counter_*.db"))) == 2
    # when a third process answers the scrape
    text = run_django(SCRAPE, env=env)
    # then it shows their sum
    labels = {"surface": "chat.completions", "model": "test/multi", "status": "success"}
    assert value(text, "gateway_requests_total", **labels) == 5
    assert value(text, "gateway_credits_charged_total") == 3 * 100 + 2 * 50
    assert value(text, "gateway_tokens_total", kind="input") == 50
    assert value(text, "gateway_tokens_total", kind="cached") == 10
    hist = "gateway_request_duration_seconds"
    assert value(text, f"{hist}_count", surface="chat.completions") == 5
    assert value(text, f"{hist}_bucket", surface="chat.completions", le="0.25") == 5
    assert value(text, f"{hist}_bucket", surface="chat.completions", le="0.1") == 0
    ttft = "gateway_time_to_first_token_seconds"
    assert value(text, f"{ttft}_sum", surface="chat.completions") == pytest.approx(0.5)
    assert value(text, "gateway_upstream_duration_seconds_count", surface="chat.completions") == 5
    # and the gauges read from the database once, not summed per process
    assert value(text, "gateway_holds_open") == 0
    assert text.count("# TYPE gateway_holds_open gauge") == 1


def test_a_process_without_the_directory_counts_in_its_own_registry(tmp_path: Path) -> None:
    # a single process (tests, runserver): no directory, nothing written anywhere
    text = run_django(WRITE.format(n=2, tag="c", cost=7) + SCRAPE, env={"REDIS_URL": ""})
    labels = {"surface": "chat.completions", "model": "test/multi", "status": "success"}
    assert value(text, "gateway_requests_total", **labels) == 2
    assert value(text, "gateway_credits_charged_total") == 14
    assert "process_cpu_seconds_total" in text  # the default registry's own collectors
