"""Development and the embedded single-machine setup (``./run``).

Debug stays off unless ``DJANGO_DEBUG=true`` asks for it (base.py), and ``./run`` always
turns it off. Without ``DJANGO_SECRET_KEY`` the secret key is generated once into
``var/secret-key`` (mode 0600) and read from there by every later start and every process
(web, worker, beat), so sessions survive restarts and no shared, published key ever signs
anything.
"""

import os
import secrets
from pathlib import Path

from config.settings.base import *  # noqa: F403
from config.settings.base import SECRET_KEY, VAR_DIR


def secret_key_load(path: Path) -> str:
    """The key in ``path``, created first if missing. Concurrent first starts agree: the
    file appears whole (written aside, then linked into place; the link fails if another
    process won), readable by the owner only."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(50) + "\n")
    try:
        os.link(aside, path)
    except FileExistsError:
        pass
    finally:
        aside.unlink()
    return path.read_text().strip()


SECRET_KEY = SECRET_KEY or secret_key_load(VAR_DIR / "secret-key")
