from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from accounts.services import apikey_create, user_create


class Command(BaseCommand):
    help = "Create an API key for a user and print only the key (shown once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--create-user", action="store_true")
        parser.add_argument("--name", default="default")
        parser.add_argument("--monthly-limit", type=int, default=None, help="credits per month")

    def handle(self, *args: object, **options: object) -> None:
        email = str(options["email"]).lower()
        user = User.objects.filter(email=email).first()
        if user is None:
            if not options["create_user"]:
                raise CommandError(f"no user {email}; pass --create-user")
            user = user_create(email=email)
        limit = options["monthly_limit"]
        if limit is not None and int(limit) < 0:
            raise CommandError("--monthly-limit must be >= 0")
        created = apikey_create(user=user, name=str(options["name"]), monthly_limit=limit)
        self.stdout.write(created.secret)
