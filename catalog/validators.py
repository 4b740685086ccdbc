"""Which environment variable a provider may name as its key (``Provider.api_key_env``).

A provider's key variable is read at call time and sent upstream as its credential, so
naming one of the gateway's own settings would send that setting to whatever ``base_url``
says. The one rule, used by the model field (so the admin form), the catalog import and
the provider clients at call time (so a row written by raw SQL cannot leak either):

- a name is ``[A-Za-z_][A-Za-z0-9_]*``;
- it is none of the gateway's settings: every name in ``.env.example`` above its
  "Upstream credentials" section (read from the file, so the list never drifts), and
  anything starting with one of the settings' prefixes (``DJANGO_``, ``DB_``, ...);
- it contains none of SECRET, PASSWORD, DATABASE, REDIS, STRIPE, EMAIL (case-insensitive).
"""

from __future__ import annotations

import logging
import re
from functools import cache
from pathlib import Path

from django.core.exceptions import ValidationError

ENV_EXAMPLE = Path(__file__).resolve().parent.parent / ".env.example"
# The section of .env.example that lists provider keys, which providers may name.
UPSTREAM_SECTION = "# --- Upstream credentials"
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
FORBIDDEN_WORDS = ("SECRET", "PASSWORD", "DATABASE", "REDIS", "STRIPE", "EMAIL")
# Families of the gateway's own settings: refused even before .env.example lists a new one.
FORBIDDEN_PREFIXES = ("DJANGO_", "DB_", "GATEWAY_", "BILLING_", "CELERY_", "GUNICORN_")

log = logging.getLogger(__name__)


@cache
def gateway_setting_names() -> frozenset[str]:
    """The names ``.env.example`` lists as the gateway's own settings (upper case). Without
    the file (a trimmed deployment) the prefixes and words still refuse every secret."""
    try:
        text = ENV_EXAMPLE.read_text()
    except OSError:
        log.warning("%s is missing: key variables are checked by prefix and word only", ENV_EXAMPLE)
        return frozenset()
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith(UPSTREAM_SECTION):
            break
        name, sep, _ = line.partition("=")
        if sep and NAME.fullmatch(name.strip()):
            names.add(name.strip().upper())
    return frozenset(names)


def api_key_env_refusal(name: str) -> str | None:
    """Why ``name`` may not hold a provider key, or None if it may. An empty name (a
    provider without a key) is allowed."""
    if not name:
        return None
    if not NAME.fullmatch(name):
        return "must be an environment variable name (letters, digits and _)"
    upper = name.upper()
    if upper in gateway_setting_names() or upper.startswith(FORBIDDEN_PREFIXES):
        return "names one of the gateway's own settings"
    for word in FORBIDDEN_WORDS:
        if word in upper:
            return f"may not contain {word}"
    return None


def api_key_env_validate(name: str) -> None:
    """The field validator: ValidationError when ``name`` may not hold a provider key."""
    refusal = api_key_env_refusal(name)
    if refusal is not None:
        raise ValidationError(
            "%(name)s %(refusal)s.",
            code="forbidden_key_variable",
            params={"name": name, "refusal": refusal},
        )
