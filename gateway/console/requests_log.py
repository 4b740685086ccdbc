"""The request log: one user's Generations, newest first, filtered, paged by a keyset cursor on
(created_at, id), never by OFFSET. A cursor names the last row of the page before; the next
page is every row strictly older in that order, so rows inserted between two page loads
(always newer) neither repeat a row nor hide one.

A filter that matches few rows or none would walk the whole (user, -created_at, -id) range.
A status other than success is a range of the partial index of failed rows. A model, a key or
a surface with success (or any status) is bounded by the daily rollups: every settled request
adds to its (user, key, model, surface, UTC day) bucket, so the successful rows of a model
(or of a surface) lie on the days its buckets name; they are read day span by day span,
newest first, none if it has no bucket. The rest (error, refused, ... rows, which have no
rollup) are a range of the partial (user, model) or (user, surface) index. ``log_page_for``
answers exactly the rows ``log_page`` of ``log_queryset`` would."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass

from django.db.models import QuerySet

from gateway.console.filters import UsageQuery
from gateway.models import Generation, UsageDaily

PAGE_SIZE = 50
SUCCESS = Generation.Status.SUCCESS
# a bucket's day is its settle's UTC date: the request's created_at may be a day either side
# (a settle or a sweep across midnight, created_at and the rollup taken at two moments)
MARGIN = dt.timedelta(days=1)
MAX_SPANS = 8  # day spans read one by one; older ones are read as one


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
    return _page(list(rows.select_related("api_key")[: size + 1]), size)


def _page(found: list[Generation], size: int) -> LogPage:
    """A page of ``found`` (up to ``size`` + 1 rows, newest first)."""
    if len(found) <= size:
        return LogPage(rows=found, next_cursor="")
    page = found[:size]
    return LogPage(rows=page, next_cursor=cursor_encode(page[-1].created_at, page[-1].id))


def log_page_for(
    *, user_id: int, query: UsageQuery, cursor: str = "", size: int = PAGE_SIZE
) -> LogPage:
    """``log_page(log_queryset(...), cursor=cursor, size=size)``, the same rows, without
    walking the log when the filter names a model, a key or a surface and allows success."""
    rows = log_queryset(user_id=user_id, query=query)
    keyed = query.key not in ("", "none")
    if query.status not in ("", SUCCESS) or not (query.model or keyed or query.surface):
        return log_page(rows, cursor=cursor, size=size)
    position = cursor_decode(cursor) if cursor else None
    if position is not None:
        rows = after_cursor(rows, position)
    need = size + 1
    top = position[0] if position is not None else query.until()
    found = _successes(
        rows.filter(status=SUCCESS), user_id=user_id, query=query, top=top, need=need
    )
    if not query.status:
        # the other statuses: with a model or a surface, a range of the partial (user,
        # model) or (user, surface) index
        others = list(rows.exclude(status=SUCCESS).select_related("api_key")[:need])
        found = sorted([*found, *others], key=lambda g: (g.created_at, g.id), reverse=True)
    return _page(found[:need], size)


def _successes(
    rows: QuerySet[Generation], *, user_id: int, query: UsageQuery, top: dt.datetime, need: int
) -> list[Generation]:
    """The first ``need`` of ``rows`` (successful, newest first), read only on the days the
    rollups of the query's model, key and surface name, up to ``top``."""
    top_day = top.astimezone(dt.UTC).date()
    buckets = UsageDaily.objects.filter(
        user_id=user_id, day__gte=query.start - MARGIN, day__lte=top_day + MARGIN
    )
    if query.model:
        buckets = buckets.filter(model=query.model)
    if query.surface:
        buckets = buckets.filter(surface=query.surface)
    if query.key not in ("", "none"):
        # "none" reads every key's buckets: a deleted key's requests lost their key, not
        # their bucket
        buckets = buckets.filter(key_id=int(query.key))
    days = set(buckets.values_list("day", flat=True).distinct())
    found: list[Generation] = []
    for first, last in day_spans(days):
        since = dt.datetime.combine(first, dt.time.min, tzinfo=dt.UTC)
        until = dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
        span = rows.filter(created_at__gte=since, created_at__lt=until)
        found += span.select_related("api_key")[: need - len(found)]
        if len(found) >= need:
            break
    return found


def day_spans(days: set[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """The UTC days (first, last, inclusive) a request of the buckets ``days`` may have been
    created on, as disjoint spans, newest first; past ``MAX_SPANS`` the oldest are one span."""
    spans: list[tuple[dt.date, dt.date]] = []
    for day in sorted(days, reverse=True):
        first, last = day - MARGIN, day + MARGIN
        if spans and last >= spans[-1][0] - dt.timedelta(days=1):
            spans[-1] = (first, spans[-1][1])
        else:
            spans.append((first, last))
    if len(spans) > MAX_SPANS:
        spans[MAX_SPANS - 1 :] = [(spans[-1][0], spans[MAX_SPANS - 1][1])]
    return spans
