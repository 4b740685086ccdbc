from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from billing.services import credits_grant


class Command(BaseCommand):
    help = "Grant credits (1,000,000 = 1 USD) through the ledger; prints the new balance."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("credits", type=int)
        parser.add_argument("--reason", required=True)

    def handle(self, *args: object, **options: object) -> None:
        user = User.objects.filter(email=str(options["email"]).lower()).first()
        if user is None:
            raise CommandError(f"no user {options['email']}")
        entry = credits_grant(
            user_id=user.pk,
            amount=int(options["credits"]),  # type: ignore[arg-type]
            memo=str(options["reason"]),
        )
        self.stdout.write(str(entry.balance_after))
