import json

from django.core.management.base import BaseCommand

from catalog.services import catalog_export


class Command(BaseCommand):
    help = "Print the registry as a JSON catalog (the format catalog_import reads)."

    def handle(self, *args: object, **options: object) -> None:
        self.stdout.write(json.dumps(catalog_export(), indent=2))
