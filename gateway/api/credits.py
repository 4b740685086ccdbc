"""``GET /v1/credits`` (any key of the account) and ``GET /v1/credits/packs`` (public).

``/v1/credits`` answers exactly ``{"data": {"total_credits", "total_usage", "balance",
"held", "available", "tier"}}``: OpenRouter's shape, in USD at the base rate (credits /
1,000,000), plus the exact integers in credits and the tier's slug. ``total_credits`` is
every credit ever added (purchases with their bonus, grants, adjustments) less refunds,
``total_usage`` all usage.
"""

from __future__ import annotations

from django.http import HttpResponse
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.views import APIView

from billing.payment_selectors import account_tier, credits_summary, packs_on_sale
from config.money import CREDITS_PER_USD
from gateway.api.base import GatewayView, json_response


class CreditsView(GatewayView):
    key_kinds = frozenset({"inference", "management"})

    def get(self, request: Request) -> HttpResponse:
        account = request.auth.user.credit_account
        summary = credits_summary(account=account)
        return json_response(
            {
                "data": {
                    "total_credits": summary.granted / CREDITS_PER_USD,
                    "total_usage": summary.used / CREDITS_PER_USD,
                    "balance": summary.balance,
                    "held": summary.held,
                    "available": summary.available,
                    "tier": account_tier(account_id=account.pk).slug,
                }
            }
        )


class PacksView(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> HttpResponse:
        return json_response(
            {
                "data": [
                    {
                        "id": pack.slug,
                        "name": pack.name,
                        "description": pack.description,
                        "price_usd": f"{pack.price_usd:.2f}",
                        "credits": pack.credits,
                        "bonus_credits": pack.bonus_credits,
                    }
                    for pack in packs_on_sale()
                ]
            }
        )
