"""Prepare a fresh installation and say how to use it; run by ``./run`` on every start.

Idempotent. The first run (no ``admin@localhost`` yet) imports the demo catalog (when the
registry is empty), creates that superuser with a random password, grants it demo credits
and creates one API key named "demo"; the password and the key are written to
``var/first-run.txt`` (mode 0600). What it prints names that file and never holds a
secret, since ``./run``'s output ends up in log files.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import IntegrityError, transaction

from accounts.models import User
from accounts.services import apikey_create, user_create
from billing.models import LedgerEntry
from billing.models_payments import TopUpPack
from billing.packs import packs_import
from billing.services import credits_grant
from catalog.models import Model
from catalog.services import catalog_import

ADMIN_EMAIL = "admin@localhost"
DEMO_CREDITS = 5_000_000  # 5 USD
DEMO_REFERENCE = "bootstrap-demo"
KEY_PLACEHOLDER = "$GATEWAY_KEY"


def first_run_file() -> Path:
    return Path(settings.VAR_DIR) / "first-run.txt"


def secret_file_write(path: Path, text: str) -> None:
    """Write ``text`` readable by the owner only (0600), whatever the umask."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


class Command(BaseCommand):
    help = "Create the demo admin, credits, key and catalog on first run; print how to start."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args: Any, **options: Any) -> None:
        port = int(options["port"])
        self._first_run(port)
        self._grant_demo_credits()
        self._print_banner(port)

    def _first_run(self, port: int) -> None:
        """Everything that happens once, in one transaction."""
        with transaction.atomic():
            password = secrets.token_urlsafe(18)
            try:
                # The unique email decides: a concurrent start waits here, then skips.
                admin = user_create(email=ADMIN_EMAIL, password=password, is_staff=True)
            except IntegrityError:
                return
            if not Model.objects.exists():
                demo = Path(settings.BASE_DIR) / "catalog" / "demo_catalog.json"
                catalog_import(data=json.loads(demo.read_text()))
            if not TopUpPack.objects.exists():
                packs = Path(settings.BASE_DIR) / "billing" / "demo_packs.json"
                packs_import(data=json.loads(packs.read_text()))
            created = apikey_create(user=admin, name="demo", actor=admin)
            # Written before the commit: if it cannot be written, nothing is created and the
            # next start tries again.
            secret_file_write(
                first_run_file(),
                f"Gateway first run\n\n"
                f"Console:  http://localhost:{port}/\n"
                f"Admin:    http://localhost:{port}/admin/\n"
                f"Email:    {ADMIN_EMAIL}\n"
                f"Password: {password}\n"
                f"Demo API key: {created.secret}\n",
            )

    def _grant_demo_credits(self) -> None:
        admin = User.objects.filter(email=ADMIN_EMAIL).first()
        if (
            admin is None
            or LedgerEntry.objects.filter(
                kind=LedgerEntry.Kind.GRANT, reference=DEMO_REFERENCE
            ).exists()
        ):
            return
        # A concurrent start may have granted it meanwhile: (kind, reference) is unique.
        with contextlib.suppress(IntegrityError):
            credits_grant(
                user_id=admin.pk,
                amount=DEMO_CREDITS,
                reference=DEMO_REFERENCE,
                memo="Demo credits for the first-run admin",
            )

    def _print_banner(self, port: int) -> None:
        """Where things are, never a secret: this goes to stdout, and so into log files."""
        base = f"http://localhost:{port}"
        path = first_run_file()
        where = str(path) if path.exists() else f"{path} (missing: use manage.py changepassword)"
        lines = [
            "",
            f"Console:  {base}/",
            f"Admin:    {base}/admin/",
            f"Login:    {ADMIN_EMAIL}",
            f"Password: in {where}",
            f"API key:  the demo key is in {path}, or create one at {base}/keys/",
            "",
            "Try the free sandbox model:",
            f"  curl {base}/v1/chat/completions \\",
            f'    -H "Authorization: Bearer {KEY_PLACEHOLDER}" \\',
            '    -H "Content-Type: application/json" \\',
            """    -d '{"model": "sandbox", "messages": [{"role": "user", "content": "Hello"}]}'""",
            "",
        ]
        self.stdout.write("\n".join(lines))
