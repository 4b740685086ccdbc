"""``manage.py verify_ledger``: check every money invariant of the design on this database.

Exits 1 and prints each breach (to stderr) when one fails; prints a one-line summary and
exits 0 when all hold. Read-only, in one snapshot, so it is safe on a live database.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing.payment_selectors import payment_breaches
from billing.selectors import ledger_breaches, ledger_counts, ledger_snapshot
from gateway.media.invariants import task_breaches, task_count
from gateway.records.invariants import (
    generation_count,
    generation_ledger_breaches,
    usage_rollup_breaches,
)


class Command(BaseCommand):
    help = (
        "Check the ledger invariants: balances equal ledger sums, held equals open holds, "
        "no balance below zero, one ledger entry per settled Generation, daily rollups equal "
        "to the settled Generations' sums, no stale hold, one purchase entry per paid "
        "Payment and refunds within the purchase; an open media task's hold exists and "
        "outlives it, a finished one has none and is charged once or not at all."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--hold-grace-seconds",
            type=int,
            default=180,
            help="How long past its expiry a hold may wait for the sweeper (default 180).",
        )
        parser.add_argument(
            "--limit", type=int, default=100, help="Breaches listed per kind (default 100)."
        )

    def handle(self, *args: object, **options: object) -> None:
        grace = int(options["hold_grace_seconds"])  # type: ignore[call-overload]
        limit = int(options["limit"])  # type: ignore[call-overload]
        with ledger_snapshot():
            breaches = [
                *ledger_breaches(hold_grace_seconds=grace, limit=limit),
                *generation_ledger_breaches(limit=limit),
                *usage_rollup_breaches(limit=limit),
                *payment_breaches(limit=limit),
                *task_breaches(limit=limit),
            ]
            counts = ledger_counts()
            generations = generation_count()
            tasks = task_count()
        for breach in breaches:
            self.stderr.write(breach)
        if breaches:
            raise CommandError(f"{len(breaches)} ledger invariant breach(es) found", returncode=1)
        self.stdout.write(
            f"ledger OK: {counts['accounts']} accounts, {counts['entries']} entries, "
            f"{counts['holds']} holds, {counts['key_spends']} key spends, "
            f"{generations} generations{f', {tasks} media tasks' if tasks else ''} checked"
        )
