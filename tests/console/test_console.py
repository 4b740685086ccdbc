"""The web console: sign-up, the dashboard, and API keys (shown once, revoked by the owner
only, CSRF enforced)."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from decimal import Decimal

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from accounts.models import ApiKey, ApiKeyEvent, User
from accounts.services import apikey_create, user_create
from billing.models import CreditAccount
from billing.services import credits_grant
from catalog.models import Model, ModelAlias
from gateway.models import Generation, UsageDaily

KEY_RE = re.compile(r"sk-[0-9a-f]{12}-[A-Za-z0-9_\-]{43}")
PASSWORD = "correct-horse-battery-staple-9"


@pytest.fixture
def user(db: None) -> User:
    return user_create(email="dev@example.com", password=PASSWORD)


@pytest.fixture
def client_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def catalog_model(db: None) -> Model:
    model = Model.objects.create(public_id="acme/small", name="Acme Small")
    ModelAlias.objects.create(model=model, alias="small")
    return model


@pytest.mark.parametrize("path", ["/", "/keys/"])
def test_anonymous_is_sent_to_login(db: None, path: str) -> None:
    resp = Client().get(path)
    assert resp.status_code == 302
    assert resp["Location"] == f"/accounts/login/?next={path}"


def test_login_page_and_login_work(user: User) -> None:
    client = Client()
    assert client.get("/accounts/login/").status_code == 200
    resp = client.post("/accounts/login/", {"username": user.email, "password": PASSWORD})
    assert resp.status_code == 302 and resp["Location"] == "/"
    assert client.get("/").status_code == 200


def test_signup_creates_user_and_credit_account_and_signs_in(db: None) -> None:
    client = Client()
    assert client.get("/accounts/signup/").status_code == 200
    # when a visitor signs up (with a mixed-case email)
    resp = client.post(
        "/accounts/signup/",
        {"email": "New@Example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    # then the user exists with an empty credit account, and is signed in
    assert resp.status_code == 302 and resp["Location"] == "/"
    user = User.objects.get(email="new@example.com")
    assert user.check_password(PASSWORD) and not user.is_staff
    assert CreditAccount.objects.get(user=user).balance == 0
    assert client.get("/").status_code == 200


@pytest.mark.parametrize(
    ("email", "password1", "password2"),
    [
        ("weak@example.com", "12345678", "12345678"),  # common and numeric
        ("short@example.com", "x7!", "x7!"),  # too short
        ("differ@example.com", PASSWORD, PASSWORD + "x"),  # mismatch
        ("dev@example.com", PASSWORD, PASSWORD),  # taken
        ("not-an-email", PASSWORD, PASSWORD),
    ],
)
def test_signup_rejects_bad_input(user: User, email: str, password1: str, password2: str) -> None:
    before = User.objects.count()
    resp = Client().post(
        "/accounts/signup/", {"email": email, "password1": password1, "password2": password2}
    )
    assert resp.status_code == 200
    assert 'class="errorlist' in resp.content.decode()
    assert User.objects.count() == before


def test_dashboard_shows_balance_month_spend_and_recent_requests(
    client_in: Client, user: User
) -> None:
    # given 5 USD of credits and one request on the log
    credits_grant(user_id=user.pk, amount=5_000_000, memo="test")
    Generation.objects.create(
        request_id="req-dash-1",
        user=user,
        model="acme/small",
        provider="acme",
        surface="chat.completions",
        status="success",
        http_status=200,
        prompt_tokens=1234,
        completion_tokens=56,
        cost=1500,
        latency_ms=321,
    )
    # when the user opens the dashboard
    body = client_in.get("/").content.decode()
    # then balance, held, month spend and the request are shown, in credits and USD
    assert "$5.00" in body and 'id="balance-credits">5,000,000<' in body
    assert "acme/small" in body and "1,234 / 56" in body
    assert "1,500" in body and "$0.0015" in body and "321 ms" in body


def test_dashboard_lists_only_the_20_latest_of_the_users_requests(
    client_in: Client, user: User
) -> None:
    other = user_create(email="other@example.com")
    common = {"surface": "chat.completions", "status": "success", "http_status": 200}
    for i in range(25):
        Generation.objects.create(
            request_id=f"mine-{i:02d}", user=user, model=f"m/{i:02d}", **common
        )
    Generation.objects.create(request_id="theirs", user=other, model="m/theirs", **common)
    body = client_in.get("/").content.decode()
    assert body.count("<code>mine-") == 20
    assert "<code>mine-24</code>" in body and "<code>mine-04</code>" not in body
    assert "m/theirs" not in body


def create_key(client: Client, **fields: str):
    data = {
        "name": "",
        "monthly_limit_usd": "",
        "allowed_models": "",
        "allowed_ips": "",
        "rate_limit_rpm": "",
        "expires_on": "",
        **fields,
    }
    return client.post("/keys/", data)


def test_key_is_shown_once_and_only_its_hash_is_stored(
    client_in: Client, user: User, catalog_model: Model
) -> None:
    expires = (timezone.now().date() + dt.timedelta(days=30)).isoformat()
    # when the user creates a key with every limit
    resp = create_key(
        client_in,
        name="ci",
        monthly_limit_usd="2.5",
        allowed_models="small, acme/small",
        allowed_ips="10.0.0.0/8, 192.168.1.7",
        rate_limit_rpm="60",
        expires_on=expires,
    )
    # then the POST answers 303 and the page it leads to shows the full key, uncached
    assert resp.status_code == 303 and resp["Location"] == "/keys/"
    shown = client_in.get("/keys/")
    assert "no-store" in shown["Cache-Control"]
    found = KEY_RE.findall(shown.content.decode())
    assert len(found) == 1
    secret = found[0]
    # and the database holds its SHA-256 and the limits, converted
    key = ApiKey.objects.get(user=user)
    assert key.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret.startswith(f"sk-{key.prefix}-")
    assert key.name == "ci" and key.monthly_limit == 2_500_000 and key.rate_limit_rpm == 60
    assert key.allowed_models == ["small", "acme/small"]
    assert key.allowed_ips == ["10.0.0.0/8", "192.168.1.7/32"]
    assert key.expires_at == dt.datetime.fromisoformat(expires).replace(tzinfo=dt.UTC)
    stored = [
        *ApiKey.objects.filter(pk=key.pk).values_list(),
        *ApiKeyEvent.objects.filter(api_key=key).values_list(),
        *Session.objects.values_list("session_data"),
    ]
    # (once shown, the session no longer holds it either)
    assert secret not in repr(stored)
    assert ApiKeyEvent.objects.filter(api_key=key, kind="created", actor=user).count() == 1
    # and a reload of the keys page lists the key without its secret
    page = client_in.get("/keys/").content.decode()
    assert f"sk-{key.prefix}-…" in page
    assert secret not in page and not KEY_RE.search(page)
    # and the key works against the API, from an allowed address only
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    assert Client().get("/v1/key", REMOTE_ADDR="127.0.0.1", **auth).status_code == 403
    api = Client().get("/v1/key", REMOTE_ADDR="10.1.2.3", **auth)
    assert api.status_code == 200
    assert api.json()["data"]["limit_credits"] == 2_500_000 and api.json()["data"]["limit"] == 2.5


def test_key_with_defaults_has_no_limits_but_its_tier_s_rate_ceiling(
    client_in: Client, user: User
) -> None:
    resp = create_key(client_in)
    assert resp.status_code == 303
    assert KEY_RE.search(client_in.get("/keys/").content.decode())
    key = ApiKey.objects.get(user=user)
    assert key.name == "default" and key.monthly_limit is None and key.expires_at is None
    assert key.allowed_models == [] and key.allowed_ips == []
    # the Pay-as-you-go tier's highest per-key rate limit, which an empty field cannot exceed
    assert key.rate_limit_rpm == 60


@pytest.mark.parametrize(
    "fields",
    [
        {"allowed_ips": "10.0.0.0/33"},
        {"allowed_ips": "not-an-ip"},
        {"allowed_models": "no/such-model"},
        {"monthly_limit_usd": "-1"},
        {"rate_limit_rpm": "0"},
        {"expires_on": "2001-01-01"},
    ],
)
def test_key_creation_rejects_bad_limits(
    client_in: Client, user: User, catalog_model: Model, fields: dict[str, str]
) -> None:
    resp = create_key(client_in, **fields)
    assert resp.status_code == 200
    body = resp.content.decode()
    assert 'class="errorlist' in body and not KEY_RE.search(body)
    assert ApiKey.objects.filter(user=user).count() == 0


def test_keys_page_shows_month_spend_limit_and_status(client_in: Client, user: User) -> None:
    limited = apikey_create(user=user, name="limited", monthly_limit=2_000_000).api_key
    # the spend shown is the key's daily rollups this month
    for day, cost in (
        (timezone.now().date().replace(day=1), 250_000),
        (dt.date(2000, 1, 1), 999_999),
    ):
        UsageDaily.objects.create(user=user, key_id=limited.pk, model="m", day=day, cost=cost)
    apikey_create(user=user, name="old", expires_at=timezone.now() - dt.timedelta(days=1))
    body = client_in.get("/keys/").content.decode()
    assert "$0.25 / $2.00" in body
    assert "expired" in body and "active" in body


def test_revoke_disables_the_key_with_an_audit_row(client_in: Client, user: User) -> None:
    created = apikey_create(user=user, name="to-revoke")
    resp = client_in.post(f"/keys/{created.api_key.pk}/revoke/")
    assert resp.status_code == 302 and resp["Location"] == "/keys/"
    key = ApiKey.objects.get(pk=created.api_key.pk)
    assert key.is_disabled is True
    assert ApiKeyEvent.objects.filter(api_key=key, kind="revoked", actor=user).count() == 1
    api = Client().get("/v1/key", HTTP_AUTHORIZATION=f"Bearer {created.secret}")
    assert api.status_code == 401
    assert "revoked" in client_in.get("/keys/").content.decode()


def test_revoke_of_another_users_key_is_404(client_in: Client, db: None) -> None:
    other = user_create(email="other@example.com")
    theirs = apikey_create(user=other, name="theirs").api_key
    resp = client_in.post(f"/keys/{theirs.pk}/revoke/")
    assert resp.status_code == 404
    assert ApiKey.objects.get(pk=theirs.pk).is_disabled is False
    assert not ApiKeyEvent.objects.filter(api_key=theirs, kind="revoked").exists()


def test_revoke_needs_post(client_in: Client, user: User) -> None:
    key = apikey_create(user=user).api_key
    assert client_in.get(f"/keys/{key.pk}/revoke/").status_code == 405
    assert ApiKey.objects.get(pk=key.pk).is_disabled is False


def test_csrf_is_enforced_on_console_posts(user: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    key = apikey_create(user=user).api_key
    # without the token, creating and revoking are refused
    assert client.post("/keys/", {"name": "x"}).status_code == 403
    assert client.post(f"/keys/{key.pk}/revoke/").status_code == 403
    assert ApiKey.objects.filter(user=user).count() == 1
    assert ApiKey.objects.get(pk=key.pk).is_disabled is False
    # with the token from the page, creating works
    client.get("/keys/")
    token = client.cookies["csrftoken"].value
    resp = client.post("/keys/", {"name": "x", "csrfmiddlewaretoken": token})
    assert resp.status_code == 303 and KEY_RE.search(client.get("/keys/").content.decode())
    assert ApiKey.objects.filter(user=user).count() == 2


def test_usd_limit_converts_exactly_to_credits(client_in: Client, user: User) -> None:
    create_key(client_in, monthly_limit_usd="0.000001")
    create_key(client_in, monthly_limit_usd="12.345678")
    limits = sorted(ApiKey.objects.filter(user=user).values_list("monthly_limit", flat=True))
    assert limits == [1, int(Decimal("12.345678") * 1_000_000)]
