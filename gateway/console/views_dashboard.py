"""The dashboard: balance, held and available credits, spend today and this month (UTC days,
from the daily rollups), a 30-day spend chart, the latest requests and a low-balance notice."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from billing.models import CreditAccount
from gateway.console.filters import today_utc
from gateway.console.usage import spend_between, usage_charts
from gateway.models import Generation

RECENT = 20  # requests shown on the dashboard
LOW_BALANCE = 1_000_000  # credits (1 USD): under this much available, suggest buying more
CHART_DAYS = 30


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    user_id = request.user.pk
    account = CreditAccount.objects.filter(user_id=user_id).first()
    balance = account.balance if account else 0
    held = account.held if account else 0
    today = today_utc()
    start = today - dt.timedelta(days=CHART_DAYS - 1)
    spend, _ = usage_charts(user_id=user_id, start=start, end=today, by="model")
    recent = Generation.objects.filter(user_id=user_id).select_related("api_key")
    context = {
        "balance": balance,
        "held": held,
        "available": balance - held,
        "is_low": balance - held < LOW_BALANCE,
        "low_balance": LOW_BALANCE,
        "today_spend": spend.rows()[-1][2] if spend.days else 0,
        "month_spend": spend_between(user_id=user_id, start=today.replace(day=1), end=today),
        "spend": spend,
        "chart_query": f"period={CHART_DAYS}&by=model",
        "generations": list(recent.order_by("-created_at", "-id")[:RECENT]),
    }
    return render(request, "gateway/dashboard.html", context)
