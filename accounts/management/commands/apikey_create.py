"""``manage.py apikey_create EMAIL``: a key made by ``accounts.services.apikey_create``,
within the account's tier like a console key, unless ``--ignore-tier`` says otherwise."""

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts.models import LimitReset, User
from accounts.services import apikey_create, user_create
from config.errors import DomainError


class Command(BaseCommand):
    help = (
        "Create an API key for a user and print only the key (shown once). The account's "
        "tier caps the number of keys and the rate limit (none given: the tier's ceiling)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--create-user", action="store_true")
        parser.add_argument("--name", default="default")
        parser.add_argument(
            "--monthly-limit",
            "--limit",
            dest="monthly_limit",
            type=int,
            default=None,
            help="spend limit in credits per period of --limit-reset (a month by default)",
        )
        parser.add_argument(
            "--limit-reset",
            choices=LimitReset.values,
            default=LimitReset.MONTHLY,
            help="when the spend limit starts over (UTC): daily, weekly from Monday, "
            "monthly from the 1st (the default), or never (a total for the key's life)",
        )
        parser.add_argument(
            "--rate-limit",
            type=int,
            default=None,
            help="requests per minute, at most the tier's ceiling (default: the ceiling)",
        )
        parser.add_argument(
            "--management",
            action="store_true",
            help="a management key: it provisions keys (/v1/keys) and is refused on the "
            "model endpoints",
        )
        parser.add_argument(
            "--ignore-tier",
            action="store_true",
            help="operator override: skip the tier's key count and rate ceiling (audited); "
            "without --rate-limit the key has no rate limit",
        )

    def handle(self, *args: object, **options: object) -> None:
        email = str(options["email"]).lower()
        limit = options["monthly_limit"]
        if limit is not None and int(limit) < 0:
            raise CommandError("--monthly-limit must be >= 0")
        rate = options["rate_limit"]
        if rate is not None and int(rate) < 1:
            raise CommandError("--rate-limit must be >= 1")
        try:
            # one transaction: a refused key leaves no user made by --create-user behind
            with transaction.atomic():
                user = User.objects.filter(email=email).first()
                if user is None:
                    if not options["create_user"]:
                        raise CommandError(f"no user {email}; pass --create-user")
                    user = user_create(email=email)
                created = apikey_create(
                    user=user,
                    name=str(options["name"]),
                    monthly_limit=limit,
                    limit_reset=str(options["limit_reset"]),
                    rate_limit_rpm=rate,
                    ignore_tier=bool(options["ignore_tier"]),
                    kind="management" if options["management"] else "inference",
                )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(created.secret)
