"""The request log as CSV: the usage page's filters, one row per request, streamed. Rows are
read in keyset batches on (created_at, id) (the log's own cursor) and written as they come,
so memory stays flat whatever the number of rows; the user's key names are read once."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator

from django.db.models import QuerySet

from accounts.models import ApiKey
from config.money import credits_to_usd
from gateway.console.requests_log import after_cursor
from gateway.models import Generation

HEADER = (
    "id",
    "time_utc",
    "key_name",
    "key_prefix",
    "model",
    "provider",
    "surface",
    "status",
    "prompt_tokens",
    "completion_tokens",
    "cost_credits",
    "cost_usd",
    "latency_ms",
)
COLUMNS = (
    "id",
    "request_id",
    "created_at",
    "api_key_id",
    "model",
    "provider",
    "surface",
    "status",
    "prompt_tokens",
    "completion_tokens",
    "cost",
    "latency_ms",
)
BATCH = 2000
# A cell starting with one of these is read as a formula by spreadsheet programs (OWASP's
# "CSV injection"); such a text cell is written with a leading quote, which they show as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Line:
    """csv.writer's file: hands back what it was given to write."""

    def write(self, text: str) -> str:
        return text


def usd_text(cost: int) -> str:
    """Credits as an exact USD amount with six decimals (one credit is 0.000001 USD)."""
    return f"{credits_to_usd(cost):.6f}"


def text_cell(value: str) -> str:
    """A text cell as a spreadsheet shows it: a leading ``'`` before a formula's first
    character. Numeric columns never pass here, so a negative number stays a number."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def export_rows(rows: QuerySet[Generation], *, user_id: int) -> Iterator[str]:
    """The CSV lines of ``rows`` (ordered newest first by the log), header first."""
    keys = {k.id: (k.name, k.prefix) for k in ApiKey.objects.filter(user_id=user_id)}
    writer = csv.writer(_Line())
    yield writer.writerow(HEADER)
    batch_rows = rows.values_list(*COLUMNS)
    position: tuple[dt.datetime, int] | None = None
    while True:
        page = after_cursor(batch_rows, position) if position else batch_rows
        batch = list(page[:BATCH])
        for row in batch:
            _, request_id, created_at, key_id, *middle, cost, latency = row
            name, prefix = keys.get(key_id, ("", "")) if key_id else ("", "")
            stamp = created_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
            model, provider, surface, status, prompt, completion = middle
            text = (request_id, stamp, name, prefix, model, provider, surface, status)
            yield writer.writerow(
                (*map(text_cell, text), prompt, completion, cost, usd_text(cost), latency)
            )
        if len(batch) < BATCH:
            return
        position = (batch[-1][2], batch[-1][0])
