"""``manage.py holds_sweep``: close the holds of requests that died, as the Celery beat task
does (``gateway.records.sweeper.holds_sweep``), for operators and cron where beat does not run."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from gateway.records.sweeper import holds_sweep


class Command(BaseCommand):
    help = (
        "Close dead holds: charge a dead stream's last checkpoint and record it as "
        "interrupted, release the others; prints what it did."
    )

    def handle(self, *args: object, **options: object) -> None:
        report = holds_sweep()
        self.stdout.write(
            f"holds swept: {report.released} released, {report.interrupted} interrupted "
            f"records written, {report.charged} credits charged"
        )
