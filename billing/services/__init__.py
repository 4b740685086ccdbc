"""Every write to money, by subject: ``holds`` (reserve, release, checkpoint, the sweeper's
settle), ``usage`` (settle), ``grants``, ``payments`` (buying credits: checkout, payment
transitions, refunds, disputes, adjustments), ``webhooks`` (Stripe's events, exactly once)
and ``recharge`` (auto-recharge). Each is one short transaction of conditional updates.

The money writes themselves are the ledger's (``billing.ledger``); the names below are
re-exported so that ``from billing.services import credits_settle`` and the like keep
working.
"""

from billing.services.grants import (
    credits_grant,
)
from billing.services.holds import (
    HoldRef,
    InsufficientCredits,
    Interrupted,
    KeyLimitExceeded,
    credits_release,
    credits_reserve,
    credits_settle_interrupted,
    hold_checkpoint,
    hold_ref,
    month_start,
)
from billing.services.usage import (
    credits_settle,
)

__all__ = [
    "HoldRef",
    "InsufficientCredits",
    "Interrupted",
    "KeyLimitExceeded",
    "credits_grant",
    "credits_release",
    "credits_reserve",
    "credits_settle",
    "credits_settle_interrupted",
    "hold_checkpoint",
    "hold_ref",
    "month_start",
]
