"""The caller's rows a ledger write carries (``base.Record``, ``base.Accumulate``), written
through the ORM: by the ORM ledger, and by the PostgreSQL ledger on its rare paths."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from billing.ledger.base import Accumulate, Record


def record_write(record: Record, *, entry_id: int | None, charge: int) -> int:
    """Insert the caller's record with the ledger's columns filled in; its id."""
    table = record.table
    values: dict[str, Any] = {
        f.name: getattr(record, f.name)
        for f in dataclasses.fields(record)  # type: ignore[arg-type]
    }
    values[table.entry_field] = entry_id
    values[table.charge_field] = charge
    row = table.model(**values)
    row.save(force_insert=True)
    return int(row.pk)


def accumulate_write(accumulate: Accumulate, *, charge: int) -> None:
    """Add to the bucket of ``accumulate`` (today, UTC), inside the caller's transaction:
    an UPDATE of its row; if there is none yet, an INSERT in a savepoint, and if a
    concurrent settle inserted it first (the unique constraint refuses a second), the
    UPDATE again, which then finds it. (``bulk_create(update_conflicts=True)`` would be one
    statement, but it sets a conflicting row's columns to the new values; it cannot add.)"""
    table = accumulate.table
    given = {f.name: getattr(accumulate, f.name) for f in dataclasses.fields(accumulate)}  # type: ignore[arg-type]
    key = {name: given[name] for name in table.key_fields if name != table.date_field}
    key[table.date_field] = timezone.now().astimezone(dt.UTC).date()
    added = {name: given[name] for name in table.sum_fields if name != table.charge_field}
    added[table.charge_field] = charge
    rows = table.model._default_manager
    increments = {name: F(name) + value for name, value in added.items()}
    if rows.filter(**key).update(**increments):
        return
    try:
        with transaction.atomic():
            rows.create(**key, **added)
    except IntegrityError:
        if not rows.filter(**key).update(**increments):
            raise
