"""The console's Providers page: log-in and CSRF required, add (the key never shown
again), rotate, delete, a key's default; another user's provider is 404; bad forms are
400 with the reason, never a 500; and in chromium at 1280 and 390 px."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from catalog.models import UserProvider
from catalog.provider_keys import provider_key_decrypt
from gateway.pipeline import health
from tests.factories import Account, AccountFactory
from tests.fakes.upstream import FakeUpstream
from tests.self_route.conftest import USER_KEY, ProviderFactory

pytestmark = pytest.mark.django_db


def signed_in(account: Account, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(account.user)
    return client


def add(client: Client, upstream: FakeUpstream, **fields: str) -> Any:
    data = {
        "name": "Home Box",
        "dialect": "openai",
        "base_url": upstream.url + "/v1",
        "key": USER_KEY,
        **fields,
    }
    return client.post("/providers/", data)


def test_the_page_needs_a_log_in(client: Client) -> None:
    resp = client.get("/providers/")
    assert resp.status_code == 302 and "/login/" in resp["Location"]


def test_adding_stores_the_key_encrypted_and_shows_only_its_last_four(
    owner: Account, upstream: FakeUpstream, allow_private: None
) -> None:
    client = signed_in(owner)
    resp = add(client, upstream)
    assert resp.status_code == 303
    own = UserProvider.objects.get()
    assert (own.slug, own.user_id) == ("my-home-box", owner.user.pk)
    assert provider_key_decrypt(own.key_encrypted) == USER_KEY
    page = client.get("/providers/").content.decode()
    assert "my-home-box" in page and f"…{USER_KEY[-4:]}" in page
    assert USER_KEY not in page and USER_KEY[:-4] not in page
    assert "healthy" in page
    # the nav links the page
    assert 'href="/providers/" aria-current="page"' in page


def test_an_open_breaker_shows_as_paused(
    owner: Account, make_own: ProviderFactory, settings: Any
) -> None:
    own = make_own(owner)
    for _ in range(settings.GATEWAY_CIRCUIT_FAILURES):
        health.route_record(-own.pk, ok=False)
    page = signed_in(owner).get("/providers/").content.decode()
    assert "paused</span> until" in page and "healthy" not in page


def test_posts_need_the_csrf_token(
    owner: Account, upstream: FakeUpstream, make_own: ProviderFactory
) -> None:
    own = make_own(owner)
    client = signed_in(owner, csrf=True)
    assert add(client, upstream, name="other").status_code == 403
    assert client.post(f"/providers/{own.pk}/delete/").status_code == 403
    assert UserProvider.objects.count() == 1


def test_a_private_base_url_is_refused_beside_the_field(
    owner: Account, upstream: FakeUpstream, settings: Any
) -> None:
    settings.GATEWAY_SELF_ROUTE_ALLOW_PRIVATE = False
    resp = add(signed_in(owner), upstream)
    assert resp.status_code == 400
    assert "loopback" in resp.content.decode()
    assert UserProvider.objects.count() == 0


def test_rotate_delete_and_key_default_only_on_ones_own(
    owner: Account, make_account: AccountFactory, make_own: ProviderFactory
) -> None:
    own = make_own(owner)
    stranger = signed_in(make_account())
    assert stranger.post(f"/providers/{own.pk}/key/", {"key": "sk-x-9999"}).status_code == 404
    assert stranger.post(f"/providers/{own.pk}/delete/").status_code == 404
    assert (
        stranger.post(
            "/providers/key-default/", {"api_key": owner.key.pk, "provider": own.pk}
        ).status_code
        == 404
    )
    client = signed_in(owner)
    assert client.post(f"/providers/{own.pk}/key/", {"key": "sk-new-4321"}).status_code == 303
    own.refresh_from_db()
    assert (provider_key_decrypt(own.key_encrypted), own.key_last4) == ("sk-new-4321", "4321")
    resp = client.post("/providers/key-default/", {"api_key": owner.key.pk, "provider": own.pk})
    assert resp.status_code == 303
    owner.key.refresh_from_db()
    assert owner.key.self_route_provider_id == own.pk
    assert client.post(f"/providers/{own.pk}/delete/").status_code == 303
    owner.key.refresh_from_db()
    assert owner.key.self_route_provider_id is None
    assert UserProvider.objects.count() == 0


@hsettings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.dictionaries(
        st.sampled_from(["name", "dialect", "base_url", "key", "extra"]),
        st.one_of(st.text(max_size=300), st.just("openai"), st.just("http://127.0.0.1:1/v1")),
    )
)
def test_fuzzed_forms_answer_400_or_303_never_500(
    owner: Account, allow_private: None, data: dict[str, str]
) -> None:
    client = signed_in(owner)
    data = {k: v.replace("\x00", "") for k, v in data.items()}
    resp = client.post("/providers/", data)
    assert resp.status_code in (303, 400)
    for pk in ("0", "abc", "99999"):
        assert client.post(f"/providers/{pk}/key/", data).status_code in (303, 404)
    assert client.post("/providers/key-default/", data).status_code in (303, 404)
    UserProvider.objects.all().delete()


CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", "var/test-artifacts")) / "console"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")
@pytest.mark.django_db(transaction=True)
def test_the_page_in_chromium_fits_both_widths(
    live_server: Any,
    make_account: AccountFactory,
    make_own: ProviderFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    from tests.e2e.pages import check, severe

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from accounts.services import apikey_create, user_create

    password = "a long enough password 1"
    user = user_create(email="own@example.com", password=password)
    created = apikey_create(user=user, name="laptop")
    account = Account(user=user, key=created.api_key, secret="")
    make_own(account, "Home Box")
    broken = make_own(account, "Office GPU", dialect="anthropic")
    for _ in range(5):
        health.route_record(-broken.pk, ok=False)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page()
        page.goto(live_server.url + "/accounts/login/")
        page.fill("input[name=username]", user.email)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.goto(live_server.url + "/providers/")
        result = check(page, ARTIFACTS, "providers")
        browser.close()
    print(f"\nscreenshots in {ARTIFACTS.resolve()}")
    assert result["overflow"] <= 0
    assert severe({"providers": result}) == {}
