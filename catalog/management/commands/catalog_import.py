import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.services import CatalogError, catalog_import


class Command(BaseCommand):
    help = "Import providers, models, aliases, prices and routes from a JSON catalog file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")

    def handle(self, *args: object, **options: object) -> None:
        try:
            data = json.loads(Path(str(options["file"])).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise CommandError(f"cannot read {options['file']}: {exc}") from exc
        try:
            report = catalog_import(data=data)
        except CatalogError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"imported {report.providers} providers, {report.models} models, "
            f"{report.routes} routes, {report.aliases} aliases"
        )
