"""The request log: one user's Generations, newest first, filtered, paged by a keyset cursor on
(created_at, id), never by OFFSET. A cursor names the last row of the page before; the next
page is every row strictly older in that order, so rows inserted between two page loads
(always newer) neither repeat a row nor hide one."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass

from django.db.models import QuerySet

from gateway.console.filters import UsageQuery
from gateway.models import Generation

PAGE_SIZE = 50


def log_queryset(*, user_id: int, query: UsageQuery) -> QuerySet[Generation]:
    """The user's requests in the query's UTC days matching its filters, newest first."""
    rows = Generation.objects.filter(
        user_id=user_id, created_at__gte=query.since(), created_at__lt=query.until()
    )
    if query.model:
        rows = rows.filter(model=query.model)
    if query.key == "none":
        rows = rows.filter(api_key__isnull=True)
    elif query.key:
        rows = rows.filter(api_key_id=int(query.key))
    if query.status:
        rows = rows.filter(status=query.status)
    if query.surface:
        rows = rows.filter(surface=query.surface)
    return rows.order_by("-created_at", "-id")


def cursor_encode(created_at: dt.datetime, row_id: int) -> str:
    text = f"{created_at.astimezone(dt.UTC).isoformat()}|{row_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def cursor_decode(cursor: str) -> tuple[dt.datetime, int] | None:
    """(created_at, id) of a cursor, or None when it is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        stamp, _, row_id = base64.urlsafe_b64decode(padded.encode()).decode().partition("|")
        moment = dt.datetime.fromisoformat(stamp)
        if moment.tzinfo is None:
            return None
        return moment, int(row_id)
    except (ValueError, UnicodeDecodeError):
        return None


def after_cursor(rows: QuerySet[Generation], cursor: tuple[dt.datetime, int]) -> QuerySet:
    """The rows after ``cursor`` in (created_at, id) descending order. ``created_at <= c`` is
    the index's range condition; the exclusion only drops the cursor's own tie rows."""
    created_at, row_id = cursor
    return rows.filter(created_at__lte=created_at).exclude(created_at=created_at, id__gte=row_id)


@dataclass(frozen=True)
class LogPage:
    rows: list[Generation]
    next_cursor: str  # empty on the last page


def log_page(rows: QuerySet[Generation], *, cursor: str = "", size: int = PAGE_SIZE) -> LogPage:
    """One page of ``rows`` (already ordered newest first) after ``cursor`` (an unreadable
    cursor reads as the first page). One query: a page and one row more, to know whether
    another page follows."""
    position = cursor_decode(cursor) if cursor else None
    if position is not None:
        rows = after_cursor(rows, position)
    page = list(rows.select_related("api_key")[: size + 1])
    if len(page) <= size:
        return LogPage(rows=page, next_cursor="")
    page = page[:size]
    return LogPage(rows=page, next_cursor=cursor_encode(page[-1].created_at, page[-1].id))
