"""The request metrics, counted where every request's record is written.

Each closing write of a request (``gateway.records.services``: a settle or a failure;
``gateway.records.refusals``: a refusal; ``gateway.media.records``: a media task's end;
``gateway.records.sweeper``: a dead stream recorded as interrupted) calls
``request_observe`` with the row it wrote, once the write has committed. So a request is
counted once, by the same record its owner sees in the request log, whatever path it took;
a 401 (no record) and an idempotent replay (no new record) are not counted.

In a gunicorn server (``gunicorn.conf.py``) ``PROMETHEUS_MULTIPROC_DIR`` is set before
anything imports prometheus_client, so every value here lives in a per-process file of that
directory and /metrics sums the files of every worker (prometheus_client's multiprocess
mode). Without it (tests, runserver) the values are in this process's default registry.

Labels are bounded: ``surface`` and ``status`` come from the code, ``model`` is a catalog
model's public id (a refusal's model is the client's text: one the catalog does not know is
counted as ``other``). Durations are in seconds, credits are the ledger's integers.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import Counter, Histogram

log = logging.getLogger(__name__)

# Seconds: a chat answer takes 0.1 s to a minute; a media task (its record's latency runs
# from creation to its end) up to many minutes.
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2.5, 5, 10, 30)

REQUESTS = Counter(
    "gateway_requests",
    "Requests recorded, by surface, model and record status (success, error, refused, "
    "interrupted).",
    ["surface", "model", "status"],
)
REQUEST_SECONDS = Histogram(
    "gateway_request_duration_seconds",
    "A request's time from arrival to its record (a media task: from creation to its end).",
    ["surface"],
    buckets=DURATION_BUCKETS,
)
UPSTREAM_SECONDS = Histogram(
    "gateway_upstream_duration_seconds",
    "Each upstream attempt's time, from sending it to its answer (a stream: to its start).",
    ["surface"],
    buckets=DURATION_BUCKETS,
)
TTFT_SECONDS = Histogram(
    "gateway_time_to_first_token_seconds",
    "A stream's time from arrival to its first token.",
    ["surface"],
    buckets=TTFT_BUCKETS,
)
TOKENS = Counter(
    "gateway_tokens",
    "Tokens recorded, by kind: input, output, and of those cached (input) and reasoning (output).",
    ["kind"],
)
CREDITS = Counter("gateway_credits_charged", "Credits charged (1,000,000 credits = 1 USD).")

_TOKENS_INPUT = TOKENS.labels("input")
_TOKENS_OUTPUT = TOKENS.labels("output")
_TOKENS_CACHED = TOKENS.labels("cached")
_TOKENS_REASONING = TOKENS.labels("reasoning")

OTHER_MODEL = "other"
_RECENT_MAX = 4096
# The request ids counted lately: a request whose provider refused it after its hold was
# taken is recorded by its failure, and its refusal's insert is then skipped, so it is not
# counted twice.
_recent: OrderedDict[str, None] = OrderedDict()


@dataclass(frozen=True, slots=True)
class _Surface:
    duration: Histogram
    upstream: Histogram
    ttft: Histogram


# The labelled children already made (``labels()`` takes a lock and builds its key on each
# call): a request then costs dictionary lookups and the value writes.
_requests: dict[tuple[str, str, str], Counter] = {}
_surfaces: dict[str, _Surface] = {}


class Record(Protocol):
    """What is read from a record: a ``GenerationRow`` or a ``Generation``."""

    request_id: str
    surface: str
    model: str
    status: str
    latency_ms: int
    ttft_ms: int | None
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    attempts: Sequence[Mapping[str, Any]]


def request_observe(record: Record, *, cost: int = 0, model_known: bool = True) -> None:
    """Count one recorded request (``cost`` in credits). ``model_known``: the record's model
    came from the catalog (False for a refusal, whose model is the client's text). Never
    raises: a metric must not change an answer."""
    try:
        _observe(record, cost, model_known)
    except Exception:
        log.exception("request %s: its metrics were not counted", record.request_id)


def _observe(record: Record, cost: int, model_known: bool) -> None:
    request_id = record.request_id
    if request_id in _recent:
        return
    _recent[request_id] = None
    if len(_recent) > _RECENT_MAX:
        _recent.popitem(last=False)
    surface = record.surface
    model = record.model if model_known else _known(record.model)
    key = (surface, model, str(record.status))
    counter = _requests.get(key)
    if counter is None:
        counter = _requests[key] = REQUESTS.labels(*key)
    counter.inc()
    by_surface = _surfaces.get(surface)
    if by_surface is None:
        by_surface = _surfaces[surface] = _Surface(
            REQUEST_SECONDS.labels(surface),
            UPSTREAM_SECONDS.labels(surface),
            TTFT_SECONDS.labels(surface),
        )
    by_surface.duration.observe(record.latency_ms / 1000)
    if record.ttft_ms is not None:
        by_surface.ttft.observe(record.ttft_ms / 1000)
    for attempt in record.attempts:
        by_surface.upstream.observe((attempt.get("ms") or 0) / 1000)
    if record.prompt_tokens:
        _TOKENS_INPUT.inc(record.prompt_tokens)
    if record.completion_tokens:
        _TOKENS_OUTPUT.inc(record.completion_tokens)
    if record.cached_tokens:
        _TOKENS_CACHED.inc(record.cached_tokens)
    if record.reasoning_tokens:
        _TOKENS_REASONING.inc(record.reasoning_tokens)
    if cost > 0:
        CREDITS.inc(cost)


def _known(model: str) -> str:
    """The catalog's public id of a client's model name, ``other`` if it names none (so a
    client cannot make a label per name it sends), empty if it sent none."""
    if not model:
        return ""
    from catalog.selectors import model_resolve

    resolved = model_resolve(name=model)
    return resolved.public_id if resolved is not None else OTHER_MODEL
