"""Streaming: relay canonical chunks to the client as they arrive, and bill exactly.

One driver serves every surface; a surface supplies an encoder that turns canonical
(OpenAI chat-chunk) dicts into its own wire events. Failover happens only before the
response starts: the gateway waits up to ``GATEWAY_STREAM_KEEPALIVE_SECONDS`` for a route's
first chunk, so a route that fails at once is replaced and, if every route fails, the client
gets an ordinary JSON error; an upstream slower than that to begin is committed to (the
client then gets keep-alives, and a failure of it is a closing error event). Every ending
settles once:

- normal end: the upstream's usage (or an estimate, marked ``usage_estimated``);
- upstream error mid-stream: a closing error event, charge for what was delivered;
- client disconnect: the upstream is closed at once, charge for what was delivered (a chunk
  counts once the server has written it), status ``cancelled``;
- failure before anything was delivered: the hold is released, nothing is charged;
- the request's deadline (``GATEWAY_REQUEST_DEADLINE_SECONDS``, counted from its start):
  the upstream is closed and the stream ends as on an upstream error mid-stream (a closing
  error event, charge for what was delivered; nothing delivered, nothing charged);
- the worker dies: the stream's last checkpoint (``gateway.pipeline.checkpoints``: what was
  delivered, at most 2 s old, written on its hold) is charged by the sweeper, which records
  the request as ``interrupted`` (``gateway.records.sweeper``).

While the upstream is silent for more than ``GATEWAY_STREAM_KEEPALIVE_SECONDS`` a comment
line keeps the client's connection alive, also before its first chunk. The upstream is
opened and read by a helper thread (a greenlet under gevent) feeding a queue, so waiting for
it can time out without breaking it.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from django.conf import settings
from django.db import IntegrityError

from billing.pricing import Usage, cost_compute
from billing.services.recharge import recharge_check
from config.errors import ApiError
from gateway.models import Generation
from gateway.pipeline import routing, tokens
from gateway.pipeline.checkpoints import Checkpointer
from gateway.pipeline.failover import failover, outcome_new
from gateway.pipeline.upstream import upstream_stream
from gateway.providers import ChunkSource, ProviderError, StreamChunk
from gateway.providers.openai import usage_from_openai
from gateway.providers.transport import DeadlineExceeded, TransportError
from gateway.records.outcome import Outcome
from gateway.records.services import generation_fail, generation_settle

if TYPE_CHECKING:
    from catalog.selectors import RouteInfo
    from gateway.pipeline.complete import Admission
    from gateway.pipeline.planning import Candidate

log = logging.getLogger(__name__)
_END = object()


class StreamEncoder(Protocol):
    """Turns chunks into a surface's SSE bytes: the canonical form, or on a passthrough the
    upstream's own event (``StreamChunk.native``) for a surface of the same wire format."""

    def begin(self, outcome: Outcome) -> bytes: ...

    def chunk(self, chunk: StreamChunk, outcome: Outcome) -> bytes: ...

    def error(self, err: ApiError, outcome: Outcome) -> bytes: ...

    def end(self, outcome: Outcome, cost: int, tally: Tally) -> bytes: ...


@dataclass(slots=True)
class Tally:
    """What was delivered to the client, for billing without upstream usage (``add`` takes
    each canonical chunk)."""

    text_bytes: int = 0
    content_chunks: int = 0
    chunks: int = 0
    finish_reason: str | None = None
    usage: Usage | None = None
    native_usage: dict[str, Any] = field(default_factory=dict)
    first_at: float | None = None

    def add(self, chunk: dict[str, Any]) -> None:
        self.chunks += 1
        if chunk.get("usage"):
            self.usage = usage_from_openai(chunk["usage"]) or self.usage
            self.native_usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            piece = 0
            for key in ("content", "reasoning", "reasoning_content"):
                value = delta.get(key)
                if value:
                    piece += len(value.encode())
            for call in delta.get("tool_calls") or ():
                fn = call.get("function") or {}
                piece += len((fn.get("name") or "").encode())
                piece += len((fn.get("arguments") or "").encode())
            if piece:
                self.text_bytes += piece
                self.content_chunks += 1
                if self.first_at is None:
                    self.first_at = time.monotonic()
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]

    def estimated_completion(self) -> int:
        """Each streamed content chunk carries at least one token; ~4 bytes make a token."""
        return max(self.content_chunks, -(-self.text_bytes // 4))


class _Pump:
    """Opens an upstream stream and reads its chunks on its own thread/greenlet into a queue:
    chunks, then ``_END``, or the exception that ended it."""

    def __init__(self, opener: Callable[[], ChunkSource]) -> None:
        self.opener = opener
        self.source: ChunkSource | None = None
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=256)
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.source = source = self.opener()
            if self.stopped:  # stopped while the request was in flight
                self.stop()
                return
            for item in source:
                if self.stopped:
                    break
                self.queue.put(item)
            self.queue.put(_END)
            if not self.stopped:
                source.release()  # a cleanly ended upstream connection goes back to the pool
        except BaseException as exc:  # noqa: BLE001 - handed to the reading side, which decides
            self.queue.put(exc)

    def get(self, wait: float) -> Any:
        return self.queue.get(timeout=wait)

    def stop(self) -> None:
        self.stopped = True
        if self.source is not None:
            # close() of a generator running on the pump thread raises; the flag and the
            # closed response end it instead.
            with contextlib.suppress(RuntimeError, ValueError, *TransportError):
                self.source.close()
        # A pump blocked on a full queue (the client read slower than the upstream wrote)
        # would wait forever: make room so it sees the flag and ends.
        with contextlib.suppress(queue.Empty):
            while True:
                self.queue.get_nowait()


def _as_provider_error(exc: BaseException) -> ProviderError:
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, TransportError):
        return ProviderError(
            f"Upstream connection failed: {exc.__class__.__name__}", retryable=True
        )
    raise exc


@dataclass(slots=True)
class OpenStream:
    admission: Admission
    candidate: Candidate
    outcome: Outcome
    first: StreamChunk | None  # None: the upstream is slow to begin; the relay waits
    pump: _Pump
    checkpoints: Checkpointer


def _opening_error(first: Any) -> ProviderError | None:
    """What a route's first queue item says about it: None if it is a chunk (or has not come
    yet), else the error to fail over on."""
    if first is None or isinstance(first, StreamChunk):
        return None
    if first is _END:
        return ProviderError("Upstream closed the stream at once", retryable=True)
    return _as_provider_error(first)


def stream_open(admission: Admission) -> OpenStream:
    """Try routes (``gateway.pipeline.failover``) until one yields its first chunk, or is slow to
    begin. Raises ApiError (hold released) if none does, so the client gets an ordinary
    error response."""
    outcome = outcome_new(admission)
    outcome.is_streamed = True
    checkpoints = Checkpointer(admission)
    deadline_at = _deadline_at(admission)

    def attempt(candidate: Candidate, route: RouteInfo) -> tuple[_Pump, StreamChunk | None]:
        checkpoints.beat(outcome, None, None)  # a long failover renews the hold
        pump = _Pump(partial(upstream_stream, admission, candidate, route))
        wait = min(settings.GATEWAY_STREAM_KEEPALIVE_SECONDS, deadline_at - time.monotonic())
        try:
            first = pump.get(max(wait, 0.0))
        except queue.Empty:
            first = None
        exc = _opening_error(first)
        if exc is not None:
            pump.stop()
            raise exc
        return pump, first

    candidate, (pump, first) = failover(admission, outcome, attempt)
    return OpenStream(admission, candidate, outcome, first, pump, checkpoints)


def stream_relay(opened: OpenStream, encoder: StreamEncoder) -> Iterator[bytes]:
    """The response body: the surface's events, then the billing close-out."""
    outcome, admission = opened.outcome, opened.admission
    tally = Tally()
    pump, item = opened.pump, opened.first
    keepalive = settings.GATEWAY_STREAM_KEEPALIVE_SECONDS
    checkpoints, candidate = opened.checkpoints, opened.candidate
    deadline_at = _deadline_at(admission)
    status, error = Generation.Status.SUCCESS, None
    finished = False
    try:
        yield encoder.begin(outcome)
        quiet_since = time.monotonic()  # the last bytes sent to the client
        while True:
            if item is None:
                now = time.monotonic()
                if now >= deadline_at:
                    error = DeadlineExceeded(settings.GATEWAY_REQUEST_DEADLINE_SECONDS)
                    break
                # wake for whichever comes first: a chunk, a keep-alive, a checkpoint due,
                # the deadline
                wait = min(
                    keepalive - (now - quiet_since),
                    checkpoints.wait_limit(now),
                    deadline_at - now,
                )
                try:
                    item = pump.get(max(wait, 0.0))
                except queue.Empty:
                    checkpoints.beat(outcome, candidate, tally)
                    if time.monotonic() - quiet_since >= keepalive:
                        yield b": keep-alive\n\n"
                        quiet_since = time.monotonic()
                    continue
            if item is _END:
                if not tally.chunks:
                    error = _opening_error(item)
                break
            if isinstance(item, BaseException):
                error = _as_provider_error(item)
                break
            yield encoder.chunk(item, outcome)
            # Counted once written: a chunk whose write failed never reached the client.
            tally.add(item.canonical)
            quiet_since = time.monotonic()
            checkpoints.delivered()
            checkpoints.beat(outcome, candidate, tally)
            item = None
        if error is not None:
            status = Generation.Status.ERROR
            if isinstance(error, DeadlineExceeded):
                message = f"The stream was cut: {error.message}"
            else:
                routing.route_record(outcome.route_id or 0, ok=False)
                message = f"The provider failed mid-stream: {error.message}"
            yield encoder.error(ApiError(502, "provider_error", message), outcome)
        cost = _settle(opened, tally, status)
        finished = True
        yield encoder.end(outcome, cost, tally)
    finally:
        try:
            pump.stop()
        except Exception:
            # Closing the upstream must never keep the request from being billed.
            log.exception("closing the upstream of %s failed", admission.caller.request_id)
        if not finished:
            # The client went away (GeneratorExit) or relaying failed: bill what was sent.
            _settle(opened, tally, Generation.Status.CANCELLED)
            log.info(
                "stream %s cancelled after %s chunks",
                admission.caller.request_id,
                tally.content_chunks,
            )


def _deadline_at(admission: Admission) -> float:
    return admission.caller.started + settings.GATEWAY_REQUEST_DEADLINE_SECONDS


def _settle(opened: OpenStream, tally: Tally, status: str) -> int:
    outcome, admission = opened.outcome, opened.admission
    outcome.finish_reason = tally.finish_reason or ("error" if status != "success" else "")
    if status == Generation.Status.ERROR:
        outcome.finish_reason = "error"
    started = admission.caller.started
    outcome.latency_ms = int((time.monotonic() - started) * 1000)
    if tally.first_at is not None:
        outcome.ttft_ms = int((tally.first_at - started) * 1000)
    if tally.usage is not None and status == Generation.Status.SUCCESS:
        outcome.usage = tally.usage
        outcome.native_usage = tally.native_usage
    else:
        prompt = (
            tally.usage.prompt_tokens
            if tally.usage
            else tokens.estimate(
                tokens.message_text(admission.body.get("messages") or [])
                or str(admission.body.get("prompt") or "")
            )
        )
        outcome.usage = Usage(prompt_tokens=prompt, completion_tokens=tally.estimated_completion())
        outcome.usage_estimated = True
    if status == Generation.Status.ERROR and tally.content_chunks == 0:
        generation_fail(
            hold=admission.hold, outcome=outcome, http_status=502, error_code="provider_error"
        )
        return 0
    cost = cost_compute(usage=outcome.usage, prices=opened.candidate.model.prices)
    try:
        generation = generation_settle(
            hold=admission.hold,
            outcome=outcome,
            cost=cost,
            status=status,
            http_status=200,
            error_code="provider_error" if status == "error" else "",
        )
    except IntegrityError:
        # The sweeper took this stream for dead (its checkpoints stopped reaching the
        # database) and already charged its last checkpoint and wrote its record.
        log.error("stream %s was closed by the sweeper before it ended", outcome.request_id)
        return 0
    recharge_check(account=admission.caller.api_key.user.credit_account, charged=generation.cost)
    return generation.cost
