"""A stream's checkpoints: what it has delivered so far, written on its hold, so that if its
worker dies the sweeper (``gateway.records.sweeper``) can charge the delivered part and write the
request's record as ``interrupted``.

Timing (seconds on the monotonic clock, from the request's start):

- nothing is written during the first ``FIRST_SECONDS`` (2): a short stream costs no query;
- after that, whenever something was delivered since the last checkpoint, one is written at
  most ``EVERY_SECONDS`` (1) after the previous one, so a checkpoint is never more than 2 s
  behind what the client received (plus the write itself);
- while nothing is delivered (a silent upstream), the hold is still renewed every
  ``BILLING_HOLD_STALE_SECONDS / 3``, so a live stream never looks dead.

Each write is one UPDATE of the hold by primary key in autocommit (``hold_checkpoint``); the
database connection is given back right after it, so a long stream holds none. A failed
write is logged and the stream goes on: it only leaves the sweeper an older checkpoint.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from billing.pricing import Usage, cost_compute
from billing.services import hold_checkpoint
from gateway.pipeline import tokens

if TYPE_CHECKING:
    from gateway.pipeline.complete import Admission
    from gateway.pipeline.planning import Candidate
    from gateway.pipeline.streaming import Tally
    from gateway.records.outcome import Outcome

log = logging.getLogger(__name__)

FIRST_SECONDS = 2.0
EVERY_SECONDS = 1.0


def hold_renewal_seconds() -> float:
    """How far ahead each checkpoint moves a stream's hold's expiry: past the deadline."""
    return settings.GATEWAY_REQUEST_DEADLINE_SECONDS + settings.BILLING_HOLD_TTL_SECONDS


class Checkpointer:
    """The checkpoints of one stream. ``wait_limit`` bounds the relay's wait for the next
    chunk so a checkpoint that falls due is written on time; ``beat`` writes one if due."""

    def __init__(self, admission: Admission) -> None:
        self.admission = admission
        self.started = admission.caller.started
        self.started_at = timezone.now() - dt.timedelta(seconds=time.monotonic() - self.started)
        self.last = self.started  # the last write (or the start)
        self.dirty = False  # delivered since the last write
        self.enabled = bool(admission.hold.id)  # a free request holds nothing
        self.idle_every = max(EVERY_SECONDS, settings.BILLING_HOLD_STALE_SECONDS / 3)
        self._prompt_tokens: int | None = None

    def delivered(self) -> None:
        self.dirty = True

    def _due(self) -> float:
        if self.dirty:
            return max(self.started + FIRST_SECONDS, self.last + EVERY_SECONDS)
        return self.last + self.idle_every

    def wait_limit(self, now: float) -> float:
        """Seconds until the next checkpoint falls due (0 if it is due)."""
        if not self.enabled:
            return float("inf")
        return max(0.0, self._due() - now)

    def beat(self, outcome: Outcome, candidate: Candidate | None, tally: Tally | None) -> None:
        """Write a checkpoint if one is due. ``tally`` None: before the first chunk (the
        route is still being chosen), a renewal charging nothing."""
        now = time.monotonic()
        if not self.enabled or now < self._due():
            return
        usage, credits, breakdown = Usage(), 0, {}
        if candidate is not None and tally is not None:
            usage = self.usage(tally)
            cost = cost_compute(usage=usage, prices=candidate.model.prices)
            credits, breakdown = cost.total, cost.breakdown()
        checkpoint = self.record(outcome, usage, tally, breakdown)
        try:
            hold_checkpoint(
                hold=self.admission.hold,
                credits=credits,
                checkpoint=checkpoint,
                ttl_seconds=hold_renewal_seconds(),
            )
        except Exception:
            log.exception("checkpoint of %s failed", outcome.request_id)
        finally:
            if not connection.in_atomic_block:
                connection.close()  # back to the pool: a stream holds no connection
        self.last, self.dirty = time.monotonic(), False

    def usage(self, tally: Tally) -> Usage:
        """What was delivered: the upstream's usage if it came, else counted from the text
        relayed (the prompt estimated once, as the stream's own settle does)."""
        if tally.usage is not None:
            return tally.usage
        if self._prompt_tokens is None:
            body = self.admission.body
            self._prompt_tokens = tokens.estimate(
                tokens.message_text(body.get("messages") or []) or str(body.get("prompt") or "")
            )
        return Usage(
            prompt_tokens=self._prompt_tokens, completion_tokens=tally.estimated_completion()
        )

    def record(
        self, outcome: Outcome, usage: Usage, tally: Tally | None, breakdown: dict[str, str]
    ) -> dict[str, Any]:
        """Everything the sweeper needs to write this request's Generation."""
        ttft_ms = None
        if tally is not None and tally.first_at is not None:
            ttft_ms = int((tally.first_at - self.started) * 1000)
        return {
            "request_id": outcome.request_id,
            "user_id": outcome.user_id,
            "api_key_id": outcome.api_key_id,
            "surface": outcome.surface,
            "model": outcome.model,
            "route_id": outcome.route_id,
            "provider": outcome.provider,
            "upstream_model": outcome.upstream_model,
            "prices": outcome.prices,
            "started_at": self.started_at.isoformat(),
            "ttft_ms": ttft_ms,
            "finish_reason": (tally.finish_reason if tally is not None else None) or "",
            "usage": {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "cached_tokens": usage.cached_tokens,
                "reasoning_tokens": usage.reasoning_tokens,
            },
            "usage_estimated": tally is None or tally.usage is None,
            "native_usage": tally.native_usage if tally is not None else {},
            "cost_breakdown": breakdown,
            "attempts": outcome.attempts,
        }
