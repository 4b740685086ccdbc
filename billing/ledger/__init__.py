"""The billing ledger: reserve, settle, release, checkpoint, grant, refund (``base.Ledger``).

Two backends with one contract (tests/billing/ledger/): ``postgres`` (single statements,
``postgres.py``) and ``orm`` (any database, ``orm.py``). ``ledger()`` returns the one chosen
once per process from ``BILLING_LEDGER_BACKEND`` (``postgres`` or ``orm``; empty: by the
database's vendor). Vendor branches live only here and in ``config/db.py``.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from billing.ledger.base import (
    Accumulate,
    AccumulateTable,
    HoldRef,
    InsufficientCredits,
    Interrupted,
    KeyCheck,
    KeyLimitExceeded,
    Ledger,
    Record,
    RecordTable,
    Released,
    Settled,
)
from billing.ledger.orm import OrmLedger, hold_ref, month_start
from config import db

__all__ = [
    "Accumulate",
    "AccumulateTable",
    "HoldRef",
    "InsufficientCredits",
    "Interrupted",
    "KeyCheck",
    "KeyLimitExceeded",
    "Ledger",
    "Record",
    "RecordTable",
    "Released",
    "Settled",
    "backend_new",
    "hold_ref",
    "ledger",
    "month_start",
]


def backend_new(name: str) -> Ledger:
    """A ledger backend by name (``postgres`` needs PostgreSQL)."""
    if name == "orm":
        return OrmLedger()
    if name == "postgres":
        if not db.is_postgres():
            raise ImproperlyConfigured("BILLING_LEDGER_BACKEND=postgres needs PostgreSQL")
        from billing.ledger.postgres import PostgresLedger  # imports psycopg

        return PostgresLedger()
    raise ImproperlyConfigured(f"BILLING_LEDGER_BACKEND: no ledger backend {name!r}")


@functools.cache
def ledger() -> Ledger:
    """The process's ledger, chosen once (``BillingConfig.ready`` makes the choice)."""
    name = settings.BILLING_LEDGER_BACKEND or ("postgres" if db.is_postgres() else "orm")
    return backend_new(name)
