"""The shell of every /v1 view: ``GatewayView`` (authentication, the admission slot, the
key's rate limit, the caller) and ``SurfaceView`` (one billed endpoint: parse, validate,
delegate to the pipeline, shape the answer). DRF's ``APIView`` is the shell only: its
authentication classes and exception handler; the bodies are plain Django (README, "The /v1
views and DRF")."""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from rest_framework.request import Request
from rest_framework.views import APIView

from config.errors import ApiError
from gateway.api.auth import BilledKeyAuthentication, GatewayKeyAuthentication
from gateway.api.errors import error_response
from gateway.api.refusals import Owner, is_refusal, owner_of_key, owner_presented, refusal_record
from gateway.api.request_body import body_bytes, json_body
from gateway.idempotency import view as idempotency
from gateway.idempotency.models import IdempotencyRecord
from gateway.idempotency.store import Replay
from gateway.pipeline.complete import Admission, admit, admitting, complete
from gateway.pipeline.gate import gate_enter, gate_leave
from gateway.pipeline.planning import Caller
from gateway.pipeline.ratelimit import ratelimit_hit
from gateway.pipeline.streaming import StreamEncoder, stream_open, stream_relay
from gateway.pipeline.upstream import Native
from gateway.providers import Completion
from gateway.records.outcome import Outcome

log = logging.getLogger(__name__)


def json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> HttpResponse:
    resp = HttpResponse(orjson.dumps(data), status=status, content_type="application/json")
    for name, value in (headers or {}).items():
        resp[name] = value
    return resp


def kind_refused(kind: str) -> ApiError:
    """The refusal of a key of the wrong kind for the endpoint."""
    if kind == MANAGEMENT:
        return ApiError(
            403,
            "management_key_not_allowed",
            "A management key provisions keys (/v1/keys); use an inference key here",
        )
    return ApiError(
        403, "management_key_required", "This endpoint needs a management key (sk-… --management)"
    )


def stream_response(
    admission: Admission, encoder: StreamEncoder, headers: dict[str, str]
) -> StreamingHttpResponse:
    """Open the upstream stream (failing over before the first byte) and relay it."""
    opened = stream_open(admission)
    resp = StreamingHttpResponse(stream_relay(opened, encoder), content_type="text/event-stream")
    resp["Cache-Control"] = "no-cache"
    resp["X-Accel-Buffering"] = "no"
    for name, value in headers.items():
        resp[name] = value
    return resp


MANAGEMENT = "management"


class GatewayView(APIView):
    """``key_kinds``: the kinds of key the endpoint takes (``ApiKey.kind``). Inference only
    by default, so a management key is refused (403 ``management_key_not_allowed``) on every
    model endpoint; the check reads the key already loaded, no query."""

    authentication_classes = [GatewayKeyAuthentication]
    surface = "openai"  # the error shape: openai or anthropic
    surface_name = ""  # what the request log calls this endpoint
    key_kinds: frozenset[str] = frozenset({"inference"})

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        gate_enter()  # before authentication, the request's first query
        super().initial(request, *args, **kwargs)
        kind = request.auth.kind
        if kind not in self.key_kinds:
            raise kind_refused(kind)
        self.rate_count(request)

    def rate_count(self, request: Request) -> None:
        """The key's rate limit, one count per request shared by all its endpoints."""
        key = request.auth
        if key.rate_limit_rpm:
            self.headers.update(ratelimit_hit(key_id=key.pk, limit=key.rate_limit_rpm))

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """The admission slot (gateway.pipeline.gate) is held from before authentication until the
        connection is given back before the upstream call, and given back here on every
        other path: an answer, an error, or an exception that escaped DRF's handler
        (``finalize_response`` is not called then). A POST's body is read before the slot
        is taken."""
        if request.method == "POST":
            # The whole body first: a client slow to send it must not hold a slot meanwhile.
            try:
                body_bytes(request)
            except ApiError as err:
                return error_response(err, surface=self.surface)
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            gate_leave()

    def caller(self, request: Request) -> Caller:
        key = request.auth
        return Caller(
            request_id=request.request_id,
            api_key=key,
            account_id=key.user.credit_account.pk,
            surface=self.surface_name,
            environ=request.META,
        )


class RecordsRefusals(GatewayView):
    """An endpoint whose refusals go to the request log: a request to a model (a billed
    surface, or ``count_tokens``) answered a 4xx but 401 is recorded for the key whose secret
    matched (gateway.records.refusals), a key refused while it is checked (a 403) included.
    The calls about the key or a record (``/v1/key``, ``/v1/generation``) are not requests
    to a model and keep no record."""

    refusal_owner: Owner | None = None  # whose refusal a 4xx is (None: not recorded)
    started = 0.0
    # a billable POST: its Idempotency-Key is claimed after authentication (gateway.idempotency)
    idempotent = False
    idempotency: IdempotencyRecord | None = None  # the claim this request holds

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self.started = time.monotonic()
        super().initial(request, *args, **kwargs)
        if self.idempotent and request.method == "POST":
            self.idempotency = idempotency.begin(request)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            if self.idempotency is not None:  # an exception escaped: the key is given back
                idempotency.release(self.idempotency)

    def finalize_response(
        self, request: Request, response: HttpResponse, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        response = super().finalize_response(request, response, *args, **kwargs)
        if self.idempotency is not None:
            claimed, self.idempotency = self.idempotency, None
            try:
                idempotency.end(claimed, response)
            except Exception:  # the answer stands; the key is given back, not left pending
                log.exception("request %s: its idempotency key was not kept", request.request_id)
                idempotency.release(claimed)
        return response

    def perform_authentication(self, request: Request) -> None:
        """The key; one refused while it is checked (a 403) still owns its refusal."""
        try:
            super().perform_authentication(request)
        except ApiError as err:
            if is_refusal(err.status):
                self.refusal_owner = owner_presented(request.META)
            raise
        self.refusal_owner = owner_of_key(request.auth)

    def handle_exception(self, exc: Exception) -> HttpResponse:
        """The error's answer; a refusal (a 4xx but 401) is also recorded in its owner's
        request log (gateway.records.refusals), which never changes the answer. A replayed
        Idempotency-Key answers its stored response, recorded nowhere."""
        if isinstance(exc, Replay):
            return exc.response
        response = super().handle_exception(exc)
        if self.refusal_owner is not None and is_refusal(response.status_code):
            try:
                refusal_record(
                    owner=self.refusal_owner,
                    request_id=self.request.request_id,
                    surface=self.surface_name,
                    body=body_bytes(self.request),
                    response=response,
                    started=self.started,
                )
            except Exception:  # the client's 4xx stands whatever its record did
                log.exception("request %s: its refusal was not recorded", self.request.request_id)
        return response


class SurfaceView(RecordsRefusals):
    """One billed endpoint: its request converted to the canonical form, the money path,
    and the answer converted back (or streamed through the surface's encoder)."""

    authentication_classes = [BilledKeyAuthentication]
    operation = "complete"
    idempotent = True

    def rate_count(self, request: Request) -> None:
        pass  # counted by the pipeline, once even when the request is planned again

    def canonical(self, raw: Any) -> dict[str, Any]:
        raise NotImplementedError

    def native(self, raw: dict[str, Any], request: Request) -> Native | None:
        return None

    def encoder(self, raw: dict[str, Any]) -> StreamEncoder:
        raise ApiError(400, "invalid_parameter", "stream is not supported here", param="stream")

    def render(
        self, raw: dict[str, Any], result: Completion, outcome: Outcome, cost: int
    ) -> dict[str, Any]:
        raise NotImplementedError

    def post(self, request: Request) -> HttpResponse:
        caller = self.caller(request)
        with admitting(caller):
            return self.handle(request, caller)

    def handle(self, request: Request, caller: Caller) -> HttpResponse:
        raw = json_body(request)
        body = self.canonical(raw)
        encoder = self.encoder(raw) if body.get("stream") else None  # refused before a hold
        admission = admit(caller, body, operation=self.operation, native=self.native(raw, request))
        if encoder is not None:
            return stream_response(admission, encoder, caller.headers)
        result, outcome, cost = complete(admission)
        return json_response(self.render(raw, result, outcome, cost), headers=caller.headers)
