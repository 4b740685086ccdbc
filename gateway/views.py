"""Console pages of the gateway: the dashboard (balance and recent usage)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from billing.models import CreditAccount
from billing.selectors import account_month_usage
from gateway.models import Generation

RECENT = 20  # requests shown on the dashboard


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    account = CreditAccount.objects.filter(user=request.user).first()
    recent = Generation.objects.filter(user=request.user).order_by("-created_at", "-id")
    context = {
        "balance": account.balance if account else 0,
        "held": account.held if account else 0,
        "month_spend": account_month_usage(account_id=account.pk) if account else 0,
        "generations": recent[:RECENT],
    }
    return render(request, "gateway/dashboard.html", context)
