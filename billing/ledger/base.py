"""The ledger API: what every backend offers, and the types at its boundary.

Amounts are integer credits (1,000,000 credits = 1 USD). Each method is one short write;
the methods are the outermost money writes (``transaction.atomic(durable=True)`` where a
transaction is needed), so no caller's transaction can widen them. Whoever deletes a Hold
row does its accounting, exactly once.

A caller that wants its own row written with a settle or release (the gateway's request
record) hands a ``Record``: a dataclass whose fields are columns of ``table.model``. The
ledger fills the columns ``table`` names with the ledger entry and the charge, and writes
the row in the same transaction (on PostgreSQL, in the same statement). Billing never
imports the caller's app: the model class travels inside the record's ``RecordTable``.

A caller that also keeps running sums (the gateway's daily usage rollups) hands an
``Accumulate`` with the settle: one row per bucket (its ``key_fields``, a unique constraint)
whose ``sum_fields`` the settle adds to, the charge and the write's UTC date filled in by the
ledger, in the same transaction (on PostgreSQL, the same statement: ``INSERT … ON CONFLICT
DO UPDATE``). A release adds nothing: it charged nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from django.db import models

from billing.models import LedgerEntry
from config.errors import DomainError
from config.money import Period


class InsufficientCredits(DomainError):
    """402 in the API (``gateway.api.errors.DOMAIN_STATUS``)."""

    def __init__(self, message: str = "Insufficient credits") -> None:
        super().__init__("insufficient_credits", message)


class KeyLimitExceeded(DomainError):
    """402 in the API (``gateway.api.errors.DOMAIN_STATUS``)."""

    def __init__(self, message: str = "The key's spend limit is reached") -> None:
        super().__init__("key_limit_exceeded", message)


@dataclass(frozen=True, slots=True)
class HoldRef:
    """What settle and release need to know of a hold, without reloading it. ``id`` 0: a
    free request's hold of nothing (no row)."""

    id: int
    account_id: int
    api_key_id: int | None
    month: dt.date | None
    amount: int
    request_id: str


@dataclass(frozen=True, slots=True)
class RecordTable:
    """Where a ``Record`` goes: its model, and the columns (attnames) the ledger fills in:
    ``entry_field`` with the ledger entry's id (NULL on a release), ``charge_field`` with
    the credits charged (0 on a release). ``auto_now_add`` columns get the write's time."""

    model: type[models.Model]
    entry_field: str
    charge_field: str


@dataclass(frozen=True, slots=True)
class AccumulateTable:
    """Where an ``Accumulate`` adds: its model; ``key_fields``, the attnames of a unique
    constraint naming one bucket (``date_field`` among them, the write's UTC date, filled by
    the ledger); ``sum_fields``, the columns added to (``charge_field`` among them, filled
    with the credits charged). Every other column must have a default."""

    model: type[models.Model]
    key_fields: tuple[str, ...]
    sum_fields: tuple[str, ...]
    date_field: str
    charge_field: str


class Accumulate(Protocol):
    """A dataclass of one bucket's key (``table.key_fields`` but the date) and of what to
    add to its sums (``table.sum_fields`` but the charge)."""

    table: ClassVar[AccumulateTable]
    __dataclass_fields__: ClassVar[dict[str, Any]]


class Record(Protocol):
    """A dataclass of one row's columns (attnames of ``table.model``, every concrete column
    but the primary key and the ones ``table`` and ``auto_now_add`` fill)."""

    table: ClassVar[RecordTable]
    __dataclass_fields__: ClassVar[dict[str, Any]]


class KeyCheck(Protocol):
    """A key-validity rule checked in the reserve's own write (``accounts.keycheck``)."""

    def params(self) -> dict[str, Any]: ...

    def predicate(self) -> str: ...

    def holds(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Settled:
    """What a settle wrote: its usage entry (``-entry.amount`` credits charged) and the id
    of the caller's record, if one was given."""

    entry: LedgerEntry
    record_id: int | None = None


@dataclass(frozen=True, slots=True)
class Released:
    """What a release did: whether this call closed the hold (False: already closed, or a
    free request's hold of nothing), and the id of the caller's record, if one was given."""

    released: bool
    record_id: int | None = None


@dataclass(frozen=True, slots=True)
class Interrupted:
    """What closing a dead stream's hold charged: its ledger entry, and the checkpoint it
    charged (the hold row as it was deleted)."""

    entry: LedgerEntry
    checkpoint: dict[str, Any]
    checkpoint_at: dt.datetime | None


class Ledger(Protocol):
    """The ledger API. ``billing.ledger.ledger()`` returns the backend chosen at start-up."""

    name: str

    def reserve(
        self,
        *,
        account_id: int,
        api_key_id: int | None,
        monthly_limit: int | None,
        amount: int,
        request_id: str,
        ttl_seconds: float,
        is_streamed: bool = False,
        key_check: KeyCheck | None = None,
        limit_period: Period = "month",
    ) -> HoldRef:
        """Hold ``amount`` for one owner (a request, a stream, a task): the account must
        have it available and, with a spend limit, the key's current ``limit_period`` (its
        start, ``config.money.period_start``, is the hold's ``month``) must have room. The
        hold expires ``ttl_seconds`` from now: its owner chooses, longer than it may run; the
        sweeper takes it only after that (or, ``is_streamed``, once its checkpoints stop).
        With ``key_check`` the same write requires the key to pass it; if not, nothing is
        held and InsufficientCredits is raised (the caller then reads the key)."""
        ...

    def settle(
        self,
        *,
        hold: HoldRef,
        cost: int,
        memo: str = "",
        record: Record | None = None,
        accumulate: Accumulate | None = None,
    ) -> Settled:
        """Charge ``cost`` and release the hold, writing ``record`` with the charge and adding
        to ``accumulate``'s bucket (the charge among its sums). The hold bounds the cost; a
        cost above it is a breach, charged as far as the account can pay. A hold already
        closed (swept) or of nothing is charged only what is available."""
        ...

    def settle_step(
        self,
        *,
        hold: HoldRef,
        cost: int,
        memo: str = "",
        record: Record | None = None,
        accumulate: Accumulate | None = None,
    ) -> Settled:
        """``settle`` as a step of a transaction the caller holds open (it commits with the
        caller's other writes)."""
        ...

    def release(self, *, hold: HoldRef, record: Record | None = None) -> Released:
        """Give the hold back uncharged, writing ``record`` (also when the hold was closed)."""
        ...

    def release_step(self, *, hold: HoldRef, record: Record | None = None) -> Released:
        """``release`` as a step of a transaction the caller holds open."""
        ...

    def checkpoint(
        self, *, hold: HoldRef, credits: int, checkpoint: dict[str, Any], ttl_seconds: float
    ) -> bool:
        """Record what a stream delivered so far and renew its hold (expiring no sooner than
        ``ttl_seconds`` from now). False if the hold is closed or of nothing."""
        ...

    def settle_interrupted(self, *, hold_id: int, memo: str = "") -> Interrupted | None:
        """Close a dead stream's hold, charging its last checkpoint (inside the caller's
        transaction, so its record commits with the charge). None if already closed."""
        ...

    def accumulate_step(self, *, accumulate: Accumulate, charge: int) -> None:
        """Add ``accumulate`` and ``charge`` credits to its bucket, inside the caller's open
        transaction (the sweeper's, after ``settle_interrupted``)."""
        ...

    def grant(
        self, *, user_id: int, amount: int, kind: str, reference: str = "", memo: str = ""
    ) -> LedgerEntry:
        """Add (negative: take away, never below what is available) credits, idempotent on
        (kind, reference) when a reference is given."""
        ...

    def refund(
        self, *, account_id: int, amount: int, reference: str, memo: str = ""
    ) -> LedgerEntry | None:
        """Take back up to ``amount`` credits, never more than is available; the entry (the
        first one, for a reference already used), or None when nothing was available.
        Idempotent on its reference."""
        ...
