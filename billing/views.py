"""Console pages of billing (the credits page, checkout, auto-recharge settings) and
Stripe's webhook. Views validate and call services; credits come only from the webhook,
never from the page a customer returns to after paying."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from billing import stripe_api
from billing.models_payments import AutoRecharge, Payment
from billing.payment_selectors import (
    account_tier,
    credits_summary,
    ledger_page,
    packs_on_sale,
    payments_of,
)
from billing.services import payments, webhooks
from billing.tiers import tier_next
from config.errors import DomainError
from config.money import CREDITS_PER_USD

log = logging.getLogger(__name__)


@never_cache
@login_required
@require_GET
def credits_page(request: HttpRequest) -> HttpResponse:
    account = payments.account_for(request.user)
    tier = account_tier(account_id=account.pk)
    waiting = request.GET.get("payment", "")
    pending = None
    if waiting.isdigit():
        pending = Payment.objects.filter(pk=int(waiting), account=account).first()
    context = {
        "account": account,
        "summary": credits_summary(account=account),
        "packs": packs_on_sale(),
        "payments": payments_of(account_id=account.pk),
        "ledger": ledger_page(account_id=account.pk, page=request.GET.get("page")),
        "tier": tier,
        "next_tier": tier_next(tier),
        "recharge": AutoRecharge.objects.filter(account=account).select_related("pack").first(),
        "payments_configured": stripe_api.is_configured(),
        "topup_min": settings.BILLING_TOPUP_MIN_USD,
        "topup_max": settings.BILLING_TOPUP_MAX_USD,
        "waiting": pending,
        "credits_per_usd": CREDITS_PER_USD,
    }
    response = render(request, "billing/credits.html", context)
    # The page's CSP says forms post to this origin only; Chrome applies that to the
    # checkout's redirect too, so Stripe's Checkout origin is allowed here.
    response._csp_update = {"form-action": [settings.STRIPE_CHECKOUT_ORIGIN]}  # type: ignore[attr-defined]
    return response


@login_required
@require_POST
def checkout(request: HttpRequest) -> HttpResponse:
    """Start a Checkout for a pack (``pack``) or a custom amount (``amount_usd``); 303 to
    Stripe's page."""
    success = request.build_absolute_uri(reverse("credits")) + "?payment={PAYMENT}"
    try:
        url = payments.payment_checkout_start(
            user=request.user,
            pack_slug=request.POST.get("pack", ""),
            amount_usd=request.POST.get("amount_usd", ""),
            # opting in: the box on the pack, or auto-recharge already on (a card to renew)
            save_card=request.POST.get("save_card") == "on"
            or AutoRecharge.objects.filter(account__user=request.user, is_enabled=True).exists(),
            success_url=success,
            cancel_url=request.build_absolute_uri(reverse("credits")),
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("credits")
    return _see_other(url)


def _see_other(url: str) -> HttpResponse:
    response = HttpResponse(status=303)
    response["Location"] = url
    return response


@login_required
@require_POST
def auto_recharge(request: HttpRequest) -> HttpResponse:
    account = payments.account_for(request.user)
    enabled = request.POST.get("enabled") == "on"
    if enabled and not account_tier(account_id=account.pk).offers_auto_recharge:
        messages.error(request, "Auto-recharge comes with the Builder tier.")
        return redirect("credits")
    try:
        threshold_usd = int(request.POST.get("threshold_usd") or "0")
        if not 0 <= threshold_usd <= settings.BILLING_TOPUP_MAX_USD:
            raise ValueError(threshold_usd)
        payments.auto_recharge_update(
            account=account,
            is_enabled=enabled,
            threshold=threshold_usd * CREDITS_PER_USD,
            pack_slug=request.POST.get("pack", ""),
        )
    except ValueError:
        messages.error(
            request,
            f"The threshold is a whole number of USD, 0 to {settings.BILLING_TOPUP_MAX_USD}.",
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Auto-recharge " + ("is on." if enabled else "is off."))
    return redirect("credits")


@never_cache
@login_required
@require_GET
def payment_status(request: HttpRequest, pk: int) -> JsonResponse:
    """What the return page polls until the webhook has landed."""
    account = payments.account_for(request.user)
    payment = get_object_or_404(Payment, pk=pk, account=account)
    account.refresh_from_db(fields=["balance", "held"])
    return JsonResponse(
        {"status": payment.status, "balance": account.balance, "available": account.available}
    )


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Stripe's events: 400 for a bad signature or body (nothing changes), 200 once the
    event's effect has committed or for a redelivery, 500 when handling failed (Stripe
    retries)."""
    try:
        event = stripe_api.webhook_event_verify(
            payload=request.body, signature=request.headers.get("Stripe-Signature", "")
        )
    except stripe_api.WebhookSignatureInvalid as exc:
        log.warning("Stripe webhook refused: %s", exc.message)
        return JsonResponse({"error": exc.message}, status=400)
    try:
        handled = webhooks.stripe_event_handle(event=event)
    except Exception:  # noqa: BLE001 - logged in the service; Stripe must retry
        return JsonResponse({"error": "handling failed; retry"}, status=500)
    return JsonResponse({"received": True, "duplicate": not handled})
