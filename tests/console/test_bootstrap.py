"""``manage.py bootstrap``: the first run sets up a demo, every later run changes nothing."""

from __future__ import annotations

import io
import re
import stat
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import Client

from accounts.keys import key_hash
from accounts.models import ApiKey, User
from billing.models import CreditAccount, LedgerEntry
from catalog.models import Model

KEY_RE = re.compile(r"sk-[0-9a-f]{12}-[A-Za-z0-9_\-]{43}")


def demo_key(var_dir: Path) -> str:
    """The demo key, from var/first-run.txt: the only place it is written."""
    return KEY_RE.findall((var_dir / "first-run.txt").read_text())[0]


def bootstrap(port: int = 8123) -> str:
    out = io.StringIO()
    call_command("bootstrap", "--port", str(port), stdout=out)
    return out.getvalue()


@pytest.fixture
def var_dir(settings: Any, tmp_path: Path) -> Path:
    settings.VAR_DIR = tmp_path
    return tmp_path


def test_bootstrap_is_idempotent(db: None, var_dir: Path) -> None:
    # when bootstrap runs twice
    first = bootstrap()
    second = bootstrap()
    # then there is one admin, one demo key, 5,000,000 credits granted once, and the catalog
    admin = User.objects.get(email="admin@localhost")
    assert admin.is_staff and admin.is_superuser
    assert User.objects.filter(email="admin@localhost").count() == 1
    keys = ApiKey.objects.filter(user=admin)
    assert [k.name for k in keys] == ["demo"]
    assert CreditAccount.objects.get(user=admin).balance == 5_000_000
    grants = LedgerEntry.objects.filter(kind="grant", reference="bootstrap-demo")
    assert [g.amount for g in grants] == [5_000_000]
    assert Model.objects.filter(public_id="sandbox/echo", is_enabled=True).exists()
    assert Model.objects.count() >= 5
    # and no run printed the key (stdout goes to log files): they say where it is
    assert key_hash(demo_key(var_dir)) == keys[0].secret_hash
    assert not KEY_RE.search(first) and not KEY_RE.search(second)
    assert first == second
    # and both runs say where to go and how to call the sandbox model
    for out in (first, second):
        assert "http://localhost:8123/" in out and "http://localhost:8123/admin/" in out
        assert "admin@localhost" in out
        assert f"API key:  the demo key is in {var_dir / 'first-run.txt'}" in out
        assert f"Password: in {var_dir / 'first-run.txt'}" in out
        assert "http://localhost:8123/v1/chat/completions" in out and '"model": "sandbox"' in out
        assert "Bearer $GATEWAY_KEY" in out


def test_first_run_file_holds_password_and_key_for_the_owner_only(db: None, var_dir: Path) -> None:
    bootstrap()
    path = var_dir / "first-run.txt"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    password = re.search(r"Password: (\S+)", text).group(1)
    assert KEY_RE.search(text)
    assert authenticate(username="admin@localhost", password=password) is not None
    # a second run leaves the file as it was
    bootstrap()
    assert path.read_text() == text


def test_demo_key_calls_the_free_sandbox_model(db: None, var_dir: Path) -> None:
    bootstrap()
    key = demo_key(var_dir)
    resp = Client().post(
        "/v1/chat/completions",
        {"model": "sandbox", "messages": [{"role": "user", "content": "Hello"}]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert resp.status_code == 200, resp.content
    assert "Hello" in resp.json()["choices"][0]["message"]["content"]
    admin = User.objects.get(email="admin@localhost")
    assert CreditAccount.objects.get(user=admin).balance == 5_000_000  # free
