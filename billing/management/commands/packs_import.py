import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing.packs import packs_import
from config.errors import DomainError


class Command(BaseCommand):
    help = 'Create or update top-up packs from {"packs": [...]} JSON (matched on slug).'

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")

    def handle(self, *args: object, **options: object) -> None:
        try:
            data = json.loads(Path(str(options["file"])).read_text())
            count = packs_import(data=data)
        except (OSError, ValueError, DomainError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{count} packs imported")
