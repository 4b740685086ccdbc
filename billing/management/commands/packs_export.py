import json

from django.core.management.base import BaseCommand

from billing.packs import packs_export


class Command(BaseCommand):
    help = "Write the top-up packs as JSON (the shape packs_import reads)."

    def handle(self, *args: object, **options: object) -> None:
        self.stdout.write(json.dumps(packs_export(), indent=2))
