"""Tiers: Pay as you go, Builder, Enterprise. An account reaches one by its lifetime
purchases in USD (net of refunds; thresholds ``BILLING_TIER_BUILDER_USD`` and
``BILLING_TIER_ENTERPRISE_USD``), or an admin sets one on its ``BillingProfile``.

A tier decides how many keys an account may hold, the highest per-key rate limit
(requests per minute; None: no ceiling), and whether auto-recharge is offered. Prices are
never hidden or changed by a tier: larger packs are cheaper through their bonus only."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from config.errors import DomainError


@dataclass(frozen=True, slots=True)
class Tier:
    slug: str
    name: str
    min_purchases_usd: int
    max_keys: int
    max_rate_limit_rpm: int | None
    offers_auto_recharge: bool


def tiers_all() -> tuple[Tier, ...]:
    """The tiers, lowest first (thresholds read from settings each call)."""
    return (
        Tier("payg", "Pay as you go", 0, 5, 60, False),
        Tier("builder", "Builder", settings.BILLING_TIER_BUILDER_USD, 50, 600, True),
        Tier("enterprise", "Enterprise", settings.BILLING_TIER_ENTERPRISE_USD, 500, None, True),
    )


def tier_get(*, purchases_usd: int, override: str = "") -> Tier:
    """The tier of an account with these lifetime purchases (whole USD), or ``override``."""
    tiers = tiers_all()
    if override:
        for tier in tiers:
            if tier.slug == override:
                return tier
    reached = tiers[0]
    for tier in tiers:
        if purchases_usd >= tier.min_purchases_usd:
            reached = tier
    return reached


def tier_key_check(
    tier: Tier, *, usable_keys: int | None, rate_limit_rpm: int | None
) -> int | None:
    """The rules of ``tier`` for one key: a new key (``usable_keys``: how many the account
    holds, not revoked) only below ``max_keys``; a rate limit (requests per minute) no
    higher than the tier's ceiling. ``usable_keys`` None: a key being edited, not added.
    Returns the key's rate limit: the one asked for, or the tier's ceiling when none was
    (no limit only where the tier has none). Raises DomainError (``key_limit``, or
    ``invalid_parameter`` naming ``rate_limit_rpm``)."""
    if usable_keys is not None and usable_keys >= tier.max_keys:
        raise DomainError(
            "key_limit",
            f"The {tier.name} tier allows {tier.max_keys} keys: revoke one first",
        )
    ceiling = tier.max_rate_limit_rpm
    if rate_limit_rpm is not None and ceiling is not None and rate_limit_rpm > ceiling:
        raise DomainError(
            "invalid_parameter",
            f"The {tier.name} tier allows at most {ceiling} requests per minute per key",
            param="rate_limit_rpm",
        )
    return ceiling if rate_limit_rpm is None else rate_limit_rpm


def tier_next(tier: Tier) -> Tier | None:
    tiers = tiers_all()
    index = [t.slug for t in tiers].index(tier.slug)
    return tiers[index + 1] if index + 1 < len(tiers) else None


TIER_CHOICES = [("payg", "Pay as you go"), ("builder", "Builder"), ("enterprise", "Enterprise")]
