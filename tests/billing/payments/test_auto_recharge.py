"""Auto-recharge: a billed request that leaves the account under its threshold buys the
pack with the saved card, once, even when concurrent requests cross it together; declines
count and three turn it off; a tier without auto-recharge or a pack off sale charges
nothing and turns it off; with it off, a billed request pays no extra query."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.services import apikey_create
from billing.models import CreditAccount, Hold
from billing.models_payments import AutoRecharge, BillingProfile, Payment, TopUpPack
from billing.services import payments, recharge
from tests.billing.payments.conftest import Buyer, Webhook, completed
from tests.fakes.stripe_server import DECLINING_CARD, FakeStripe
from tests.fakes.upstream import FakeHandler

CHAT = {"model": "test/priced", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
SETTLES = 8


@pytest.fixture(autouse=True)
def _fresh_queue() -> None:
    recharge._enqueued.clear()


def _builder_with_saved_card(make_buyer: Any, fake: FakeStripe, webhook: Webhook) -> Buyer:
    """A Builder-tier buyer who bought the 10 USD pack with the card saved, and turned
    auto-recharge on below 8 USD with the same pack."""
    buyer: Buyer = make_buyer()
    _, session = buyer.checkout(pack="ten", save_card="on")
    assert webhook.deliver(completed(fake, session)).status_code == 200
    BillingProfile.objects.filter(account=buyer.account).update(tier="builder")
    response = buyer.client.post(
        "/credits/auto-recharge/", {"enabled": "on", "threshold_usd": "8", "pack": "ten"}
    )
    assert response.status_code == 302
    assert buyer.account.recharge_below == 8_000_000
    # with auto-recharge on, a later checkout saves its card without the box ticked
    buyer.checkout(pack="ten")
    last = fake.calls("POST", "/v1/checkout/sessions")[-1]["params"]
    assert last["payment_intent_data"]["setup_future_usage"] == "off_session"
    return buyer


@pytest.fixture
def buyer(make_buyer: Any, fake_stripe: FakeStripe, webhook: Webhook, packs: Any) -> Buyer:
    return _builder_with_saved_card(make_buyer, fake_stripe, webhook)


def test_a_request_crossing_the_threshold_buys_the_pack_once(
    buyer: Buyer,
    fake_stripe: FakeStripe,
    webhook: Webhook,
    make_model: Any,
    api: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given a model that costs 3 USD a request and a balance of 10 USD
    make_model("test/priced", prompt="0", completion="0", request="3")
    key = apikey_create(user=buyer.user, name="k")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key.secret}"}
    # when one request leaves 7 USD, under the 8 USD threshold
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post("/v1/chat/completions", CHAT, **auth).status_code == 200
    # then one off-session PaymentIntent for the pack, with the saved card
    (call,) = fake_stripe.calls("POST", "/v1/payment_intents")
    payment = Payment.objects.get(kind=Payment.Kind.AUTO_RECHARGE)
    assert call["params"]["off_session"] == "true" and call["params"]["confirm"] == "true"
    assert call["params"]["amount"] == "1000" and call["params"]["payment_method"] == "pm_card_visa"
    assert call["headers"]["Idempotency-Key"] == payments.stripe_idempotency_key(
        f"recharge-payment-{payment.pk}"
    )
    # and no credits until the webhook says the PaymentIntent succeeded
    assert buyer.balance() == 7_000_000
    assert payment.status == Payment.Status.PENDING
    intent = fake_stripe.intent_object(payment.stripe_payment_intent_id)
    event = fake_stripe.event("payment_intent.succeeded", intent)
    assert webhook.deliver(event).status_code == 200
    assert webhook.deliver(event).status_code == 200
    assert buyer.balance() == 17_000_000
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PAID
    # a request that stays above the threshold buys nothing
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post("/v1/chat/completions", CHAT, **auth).status_code == 200
    assert len(fake_stripe.calls("POST", "/v1/payment_intents")) == 1
    assert buyer.balance() == 14_000_000


def test_attempts_are_spaced_by_the_minimum_interval(
    buyer: Buyer, fake_stripe: FakeStripe, settings: Any
) -> None:
    from billing.models import LedgerEntry
    from billing.services import credits_grant

    credits_grant(user_id=buyer.user.pk, amount=-5_000_000, kind=LedgerEntry.Kind.ADJUSTMENT)
    settings.BILLING_RECHARGE_MIN_INTERVAL_SECONDS = 600
    assert recharge.recharge_attempt(account_id=buyer.account.pk) == "charged"
    assert recharge.recharge_attempt(account_id=buyer.account.pk) == "skipped"
    assert len(fake_stripe.calls("POST", "/v1/payment_intents")) == 1


def test_three_declines_in_a_row_turn_auto_recharge_off(
    buyer: Buyer, fake_stripe: FakeStripe, webhook: Webhook, settings: Any
) -> None:
    from billing.models import LedgerEntry
    from billing.services import credits_grant

    # given a card that now declines, and a balance under the threshold
    settings.BILLING_RECHARGE_MIN_INTERVAL_SECONDS = 0
    customer = BillingProfile.objects.get(account=buyer.account).stripe_customer_id
    fake_stripe.card_save(customer, DECLINING_CARD)
    credits_grant(user_id=buyer.user.pk, amount=-5_000_000, kind=LedgerEntry.Kind.ADJUSTMENT)
    account_id = buyer.account.pk
    # when three attempts are declined
    assert [recharge.recharge_attempt(account_id=account_id) for _ in range(3)] == ["declined"] * 3
    # then each failed once, even when Stripe's payment_failed event repeats the news
    failed = Payment.objects.filter(kind=Payment.Kind.AUTO_RECHARGE, status=Payment.Status.FAILED)
    assert failed.count() == 3
    intent = fake_stripe.intent_object(failed.first().stripe_payment_intent_id)  # type: ignore[union-attr]
    webhook.deliver(fake_stripe.event("payment_intent.payment_failed", intent))
    state = AutoRecharge.objects.get(account_id=account_id)
    assert (state.declines_in_row, state.is_enabled) == (3, False)
    assert CreditAccount.objects.get(pk=account_id).recharge_below is None
    assert recharge.recharge_attempt(account_id=account_id) == "not_needed"
    assert len(fake_stripe.calls("POST", "/v1/payment_intents")) == 3
    # and the credits page says so
    page = buyer.client.get("/credits/")
    assert b"Card declined" in page.content and b"3 declines in a row" in page.content
    assert buyer.balance() == 5_000_000


def test_an_attempt_charges_nothing_once_the_tier_no_longer_offers_it(
    buyer: Buyer, fake_stripe: FakeStripe
) -> None:
    from billing.models import LedgerEntry
    from billing.services import credits_grant

    # given auto-recharge on, a balance under its threshold, and the admin's Builder tier
    # removed (10 USD of purchases: Pay as you go, which has no auto-recharge)
    credits_grant(user_id=buyer.user.pk, amount=-5_000_000, kind=LedgerEntry.Kind.ADJUSTMENT)
    BillingProfile.objects.filter(account=buyer.account).update(tier="")
    account_id = buyer.account.pk
    # when an attempt starts
    assert recharge.recharge_attempt(account_id=account_id) == "not_allowed"
    # then no PaymentIntent and no Payment
    assert fake_stripe.calls("POST", "/v1/payment_intents") == []
    assert not Payment.objects.filter(kind=Payment.Kind.AUTO_RECHARGE).exists()
    # and auto-recharge is off, saying why, and settles queue nothing more
    state = AutoRecharge.objects.get(account_id=account_id)
    reason = (
        "Auto-recharge is off: the Pay as you go tier does not offer it "
        "(it comes with the Builder tier)"
    )
    assert (state.is_enabled, state.last_error, state.in_flight_since) == (False, reason, None)
    assert CreditAccount.objects.get(pk=account_id).recharge_below is None
    assert recharge.recharge_attempt(account_id=account_id) == "not_needed"
    # and the credits page shows the reason
    page = buyer.client.get("/credits/")
    assert reason.encode() in page.content
    assert buyer.balance() == 5_000_000


def test_an_attempt_charges_nothing_once_its_pack_is_off_sale(
    buyer: Buyer, fake_stripe: FakeStripe
) -> None:
    from billing.models import LedgerEntry
    from billing.services import credits_grant

    # given auto-recharge on with the "Ten" pack, which an admin then took off sale
    credits_grant(user_id=buyer.user.pk, amount=-5_000_000, kind=LedgerEntry.Kind.ADJUSTMENT)
    TopUpPack.objects.filter(slug="ten").update(is_active=False)
    account_id = buyer.account.pk
    # when an attempt starts
    assert recharge.recharge_attempt(account_id=account_id) == "not_allowed"
    # then nothing is charged, and auto-recharge is off with the reason on the credits page
    assert fake_stripe.calls("POST", "/v1/payment_intents") == []
    assert not Payment.objects.filter(kind=Payment.Kind.AUTO_RECHARGE).exists()
    state = AutoRecharge.objects.get(account_id=account_id)
    reason = (
        "Auto-recharge is off: the pack Ten is no longer on sale; "
        "choose another pack to turn it on again"
    )
    assert (state.is_enabled, state.last_error) == (False, reason)
    assert CreditAccount.objects.get(pk=account_id).recharge_below is None
    page = buyer.client.get("/credits/")
    assert reason.encode() in page.content
    assert buyer.balance() == 5_000_000


def test_with_auto_recharge_off_a_billed_request_pays_no_extra_query(
    make_account: Any,
    make_model: Any,
    api: Any,
    packs: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    make_model("test/priced", prompt="0", completion="0", request="3")
    account = make_account(10_000_000)

    def queries() -> int:
        with (
            CaptureQueriesContext(connection) as ctx,
            django_capture_on_commit_callbacks(execute=True),
        ):
            assert api.post("/v1/chat/completions", CHAT, account=account).status_code == 200
        return len(ctx.captured_queries)

    queries()  # warm the catalog snapshot
    off = queries()
    # when auto-recharge is on but the account stays above its threshold
    CreditAccount.objects.filter(pk=account.user.credit_account.pk).update(recharge_below=1)
    on_above = queries()
    assert on_above == off


pg = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL: SQLite serialises writers"
)


class _NeverRemembers(dict):
    """``recharge._enqueued`` as N processes see it: each settle in its own process queues
    its attempt (the per-process pacing never met the others), so the claim must decide."""

    def __setitem__(self, key: Any, value: Any) -> None:
        return None


@pytest.mark.postgres
@pg
@pytest.mark.timeout(90)
@pytest.mark.django_db(transaction=True)
def test_concurrent_billed_requests_crossing_the_threshold_start_one_payment_intent(
    make_buyer: Any,
    fake_stripe: FakeStripe,
    webhook: Webhook,
    packs: Any,
    live_server: Any,
    upstream: Any,
    make_model: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from billing.models import LedgerEntry
    from billing.services import credits_grant

    # given a Builder buyer with auto-recharge under 8 USD, 8.2 USD available, and a model
    # at 0.3 USD a request: every one of 8 requests crosses the threshold on its own
    buyer = _builder_with_saved_card(make_buyer, fake_stripe, webhook)
    credits_grant(user_id=buyer.user.pk, amount=-1_800_000, kind=LedgerEntry.Kind.ADJUSTMENT)
    assert buyer.balance() == 8_200_000
    make_model("test/priced", prompt="0", completion="0", request="0.3")
    key = apikey_create(user=buyer.user, name="k")
    account_id = buyer.account.pk
    monkeypatch.setattr(recharge, "_enqueued", _NeverRemembers())
    # and every attempt's outcome recorded (the Celery task runs eagerly, after each settle)
    outcomes: list[str] = []
    lock = threading.Lock()
    attempt = recharge.recharge_attempt

    def recorded_attempt(*, account_id: int) -> str:
        outcome = attempt(account_id=account_id)
        with lock:
            outcomes.append(outcome)
        return outcome

    monkeypatch.setattr(recharge, "recharge_attempt", recorded_attempt)
    # and an upstream that answers only once all 8 requests hold their credits, so their
    # settles come together
    gate = threading.Event()
    answer = FakeHandler.do_POST

    def gated(handler: FakeHandler) -> None:
        gate.wait(timeout=30)
        answer(handler)

    monkeypatch.setattr(FakeHandler, "do_POST", gated)
    sessions = [requests.Session() for _ in range(SETTLES)]
    for session in sessions:  # keep-alive connections first: the live server's backlog is 10
        session.get(live_server.url + "/v1/models", timeout=10).raise_for_status()
    barrier = threading.Barrier(SETTLES)
    answers: list[tuple[int, Any]] = []

    def billed_request(session: requests.Session) -> None:
        barrier.wait()
        resp = session.post(
            live_server.url + "/v1/chat/completions",
            json=CHAT,
            headers={"Authorization": f"Bearer {key.secret}"},
            timeout=60,
        )
        with lock:
            answers.append((resp.status_code, resp.json()))

    # when 8 billed requests run at once through the live gateway
    threads = [threading.Thread(target=billed_request, args=(s,)) for s in sessions]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while Hold.objects.filter(account_id=account_id).count() < SETTLES:
            assert time.monotonic() < deadline, "the requests never all held their credits"
            time.sleep(0.02)
    finally:
        gate.set()
        for thread in threads:
            thread.join(timeout=60)
        for session in sessions:
            session.close()
    # then every request was served and billed, and each settle started an attempt
    assert sorted(status for status, _ in answers) == [200] * SETTLES, answers
    assert [body["usage"]["cost"] for _, body in answers] == [300_000] * SETTLES
    assert sorted(outcomes) == ["charged"] + ["skipped"] * (SETTLES - 1)
    # and exactly one PaymentIntent reached Stripe, for one Payment
    (call,) = fake_stripe.calls("POST", "/v1/payment_intents")
    (payment,) = Payment.objects.filter(kind=Payment.Kind.AUTO_RECHARGE)
    assert call["params"]["amount"] == "1000"
    # and the credits wait for the webhook; no claim is left behind
    assert buyer.balance() == 8_200_000 - SETTLES * 300_000
    assert payment.status == Payment.Status.PENDING
    assert AutoRecharge.objects.get(account_id=account_id).in_flight_since is None
    assert Hold.objects.filter(account_id=account_id).count() == 0


def test_an_unknown_outcome_waits_for_the_webhook_and_never_charges_twice(
    buyer: Buyer, fake_stripe: FakeStripe, webhook: Webhook, settings: Any
) -> None:
    from billing.models import LedgerEntry
    from billing.services import credits_grant

    # given a balance under the threshold, and Stripe charging the card but answering 500
    settings.BILLING_RECHARGE_MIN_INTERVAL_SECONDS = 0
    credits_grant(user_id=buyer.user.pk, amount=-5_000_000, kind=LedgerEntry.Kind.ADJUSTMENT)
    fake_stripe.fail_after_charge = True
    account_id = buyer.account.pk
    # when the attempt's outcome is unknown
    assert recharge.recharge_attempt(account_id=account_id) == "error"
    payment = Payment.objects.get(kind=Payment.Kind.AUTO_RECHARGE)
    # then the Payment stays pending, and no second attempt charges while it waits
    assert payment.status == Payment.Status.PENDING
    assert recharge.recharge_attempt(account_id=account_id) == "skipped"
    assert len(fake_stripe.calls("POST", "/v1/payment_intents")) == 1
    # and Stripe's webhook, which knows the card was charged, grants the pack once
    intent = fake_stripe.intent_object(list(fake_stripe.intents)[-1])
    assert webhook.deliver(fake_stripe.event("payment_intent.succeeded", intent)).status_code == 200
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PAID
    assert buyer.balance() == 5_000_000 + 10_000_000


@pytest.mark.django_db(transaction=True)
def test_an_enqueue_failure_does_not_fail_a_billed_request(
    make_account: Any, make_model: Any, api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from billing import tasks

    # given an account under its recharge threshold, and a broker that refuses the task
    make_model("test/priced")
    account = make_account(1_000_000)
    CreditAccount.objects.filter(user=account.user).update(recharge_below=5_000_000)

    def refused(*args: Any, **kwargs: Any) -> None:
        raise OSError("broker unreachable")

    monkeypatch.setattr(tasks.auto_recharge, "delay", refused)
    # when a billed request settles (in autocommit, as in production)
    resp = api.post("/v1/chat/completions", CHAT, account=account)
    # then it is answered and billed as usual
    assert resp.status_code == 200, resp.content
    assert account.balance() == 1_000_000 - resp.json()["usage"]["cost"]


def test_an_absurd_threshold_is_refused_on_the_form(buyer: Buyer) -> None:
    # when the threshold would not fit the account's integer columns
    response = buyer.client.post(
        "/credits/auto-recharge/", {"enabled": "on", "threshold_usd": "1" + "0" * 30, "pack": "ten"}
    )
    # then the page says why and the settings keep their value
    assert response.status_code == 302
    page = buyer.client.get("/credits/")
    assert b"whole number of USD, 0 to 10000" in page.content
    assert AutoRecharge.objects.get(account=buyer.account).threshold == 8_000_000
