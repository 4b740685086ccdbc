"""How each settings module starts: the embedded product (config.settings.local) never in
debug mode, with its own generated secret key and this machine's hosts; production with
HSTS and an HTTPS redirect, and no start without its secrets."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from config.settings.local import secret_key_load

BASE_DIR = Path(__file__).resolve().parents[2]
OLD_DEV_KEY = "dev-insecure-key-change-me"


def django_run(module: str, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``code`` after ``django.setup()`` under ``module``, in a clean environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    clean.update(DJANGO_SETTINGS_MODULE=module, **env)
    script = "import django; django.setup(); from django.conf import settings\n" + code
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=BASE_DIR,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_local_settings_are_not_debug_and_use_the_generated_key() -> None:
    # when the embedded settings start with nothing set
    out = django_run(
        "config.settings.local",
        "print(settings.DEBUG); print(settings.SECRET_KEY); print(settings.ALLOWED_HOSTS)",
        DJANGO_ALLOWED_HOSTS="gateway.lan",
    )
    assert out.returncode == 0, out.stderr
    debug, key, hosts = out.stdout.splitlines()
    # then debug is off, the key is the one in var/secret-key (never the old shared one)
    assert debug == "False"
    path = BASE_DIR / "var" / "secret-key"
    assert key == path.read_text().strip() and key != OLD_DEV_KEY and len(key) >= 50
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # and this machine's names are allowed, with what DJANGO_ALLOWED_HOSTS adds
    assert hosts == "['localhost', '127.0.0.1', '[::1]', 'gateway.lan']"


def test_debug_is_an_explicit_opt_in() -> None:
    out = django_run("config.settings.local", "print(settings.DEBUG)", DJANGO_DEBUG="true")
    assert out.stdout.strip() == "True"


def test_an_explicit_secret_key_wins() -> None:
    out = django_run("config.settings.local", "print(settings.SECRET_KEY)", DJANGO_SECRET_KEY="k1")
    assert out.stdout.strip() == "k1"


def test_production_requires_its_secret_key() -> None:
    out = django_run(
        "config.settings.production",
        "",
        DJANGO_ALLOWED_HOSTS="api.example.com",
        DATABASE_URL="sqlite:///unused.sqlite3",
    )
    assert out.returncode != 0
    assert "DJANGO_SECRET_KEY" in out.stderr


def test_production_redirects_to_https_and_sends_hsts() -> None:
    # given production settings behind a proxy that terminates TLS
    code = """
from django.test import Client
c = Client()
plain = c.get("/accounts/login/", HTTP_HOST="api.example.com")
tls = c.get("/accounts/login/", HTTP_HOST="api.example.com", HTTP_X_FORWARDED_PROTO="https")
print(plain.status_code, plain["Location"])
print(tls.status_code, tls["Strict-Transport-Security"])
print("Content-Security-Policy" in tls)
"""
    out = django_run(
        "config.settings.production",
        code,
        DJANGO_SECRET_KEY="production-test-key",
        DJANGO_ALLOWED_HOSTS="api.example.com",
        DATABASE_URL="sqlite:///unused.sqlite3",  # no query is made
    )
    assert out.returncode == 0, out.stderr
    plain, tls, csp = out.stdout.splitlines()
    # then plain HTTP is sent to HTTPS, and HTTPS answers carry HSTS (no preload) and CSP
    assert plain == "301 https://api.example.com/accounts/login/"
    assert tls == "200 max-age=31536000; includeSubDomains"
    assert csp == "True"


def test_gunicorn_binds_this_machine_unless_host_says_otherwise() -> None:
    code = "import runpy; print(runpy.run_path('gunicorn.conf.py')['bind'])"
    env = {k: v for k, v in os.environ.items() if k not in ("HOST", "PORT")}

    def bind(**extra: str) -> str:
        run = subprocess.run(
            [sys.executable, "-c", code],
            cwd=BASE_DIR,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return run.stdout.strip()

    assert bind() == "127.0.0.1:8000"
    assert bind(HOST="0.0.0.0", PORT="9000") == "0.0.0.0:9000"


def test_secret_key_is_made_once_for_the_owner(tmp_path: Path) -> None:
    # when eight processes' worth of first starts race for the file
    path = tmp_path / "var" / "secret-key"
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: secret_key_load(path), range(8)))
    # then they all got the one key in the file, readable by the owner only, and no leftovers
    assert keys == {path.read_text().strip()}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["secret-key"]
    # and a later start reads it back unchanged
    assert secret_key_load(path) == keys.pop()
