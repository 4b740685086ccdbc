"""``manage.py callback_secret EMAIL [--rotate]``: print the user's callback signing secret
(made on first use), or rotate it first."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from accounts.services import callback_secret_get, callback_secret_rotate


class Command(BaseCommand):
    help = (
        "Print the user's callback signing secret, the key of the x-api-key-signature of "
        "media task callbacks (made on first use); --rotate replaces it first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument(
            "--rotate",
            action="store_true",
            help="make a new secret: callbacks from now on are signed with it",
        )

    def handle(self, *args: object, **options: object) -> None:
        email = str(options["email"]).lower()
        user = User.objects.filter(email=email).first()
        if user is None:
            raise CommandError(f"no user {email}")
        secret = callback_secret_rotate(user) if options["rotate"] else callback_secret_get(user)
        self.stdout.write(secret)
