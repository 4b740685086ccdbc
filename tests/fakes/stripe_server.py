"""A local stand-in for the part of Stripe's API the gateway calls, as a real HTTP server.

It speaks what the official SDK sends: form-encoded POST bodies (``a[b][0][c]=v``), GET
query strings, ``Authorization: Bearer sk_test_…``, JSON answers and Stripe's error shape
(``{"error": {"type", "code", "message", …}}``). Idempotency keys behave as Stripe's do:
the same key with the same parameters replays the stored answer; with other parameters it
is a 400 ``idempotency_error``.

Objects: Customers (with their saved cards), Checkout Sessions (``url`` is a page on this
server, ``/pay/<session id>``, whose button "pays" it and returns to ``success_url``) and
PaymentIntents confirmed off-session. The card ``pm_card_chargeDeclined`` (Stripe's own
test card name) declines with ``card_declined``.

Every request is recorded in ``requests`` (method, path, headers, parsed params). Events
are not sent: ``event(...)`` builds a Stripe event payload from the stored objects and the
test delivers it, signed, to the webhook.
"""

from __future__ import annotations

import html
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

DECLINING_CARD = "pm_card_chargeDeclined"
GOOD_CARD = "pm_card_visa"

_ids = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}_test_{next(_ids):06d}"


def form_decode(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding back into nested dicts and lists: ``a[b][0][c]=v``."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt = None if last else parts[i + 1]
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append(None)
                if last:
                    node[index] = value
                else:
                    if node[index] is None:
                        node[index] = [] if nxt.isdigit() else {}  # type: ignore[union-attr]
                    node = node[index]
            elif last:
                node[part] = value
            else:
                node = node.setdefault(part, [] if nxt.isdigit() else {})  # type: ignore[union-attr]
    return root


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave at once, no delayed-ACK stall
    server: FakeStripe

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Request-Id", _id("req"))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data).encode())

    def _params(self) -> dict[str, Any]:
        url = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        pairs = parse_qsl(url.query, keep_blank_values=True)
        pairs += parse_qsl(raw, keep_blank_values=True)
        return form_decode(pairs)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        path = urlsplit(self.path).path
        params = self._params()
        fake = self.server
        if path.startswith("/pay/"):
            self._pay_page(method, path.removeprefix("/pay/"))
            return
        with fake.lock:
            fake.requests.append(
                {"method": method, "path": path, "headers": dict(self.headers), "params": params}
            )
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer sk_test_"):
            self._json(401, {"error": {"type": "invalid_request_error", "message": "bad key"}})
            return
        key = self.headers.get("Idempotency-Key")
        if method == "POST" and key:
            with fake.lock:
                stored = fake.idempotent.get(key)
            if stored is not None:
                if stored[0] != (path, params):
                    self._json(
                        400,
                        {
                            "error": {
                                "type": "idempotency_error",
                                "message": "Keys for idempotent requests can only be used "
                                "with the same parameters they were first used with.",
                            }
                        },
                    )
                else:
                    self._json(stored[1], stored[2])
                return
        status, data = fake.route(method, path, params)
        if method == "POST" and key:
            with fake.lock:
                fake.idempotent[key] = ((path, params), status, data)
        self._json(status, data)

    def _pay_page(self, method: str, session_id: str) -> None:
        fake = self.server
        session = fake.sessions.get(session_id)
        if session is None:
            self._send(404, b"no such session", "text/plain")
            return
        if method == "POST":
            fake.session_pay(session_id)
            self.send_response(303)
            self.send_header(
                "Location", session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)
            )
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        amount = session["amount_total"] / 100
        page = (
            "<!doctype html><html><head><title>Fake Stripe Checkout</title>"
            '<meta name="viewport" content="width=device-width,initial-scale=1"></head>'
            f"<body><h1>Fake Stripe Checkout</h1><p id=amount>Pay ${amount:.2f} "
            f"({html.escape(session['line_items'][0]['price_data']['product_data']['name'])})"
            f"</p><form method=post><button id=pay type=submit>Pay</button></form></body></html>"
        )
        self._send(200, page.encode(), "text/html; charset=utf-8")


class FakeStripe(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.idempotent: dict[str, tuple[Any, int, Any]] = {}
        self.customers: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.intents: dict[str, dict[str, Any]] = {}
        # fault: the next PaymentIntent is charged, then the answer is a 500 (Stripe's
        # outcome is unknown to the caller; the webhook still tells)
        self.fail_after_charge = False
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> FakeStripe:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.idempotent.clear()
            self.customers.clear()
            self.sessions.clear()
            self.intents.clear()
            self.fail_after_charge = False

    def calls(self, method: str, path: str) -> list[dict[str, Any]]:
        """The recorded requests to ``method path`` (a path prefix)."""
        with self.lock:
            return [
                r for r in self.requests if r["method"] == method and r["path"].startswith(path)
            ]

    # --- the API -----------------------------------------------------------------------------

    def route(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        with self.lock:
            if method == "POST" and path == "/v1/customers":
                return 200, self._customer_create(params)
            if method == "GET" and len(parts) == 4 and parts[:2] == ["v1", "customers"]:
                return self._payment_methods(parts[2])
            if method == "POST" and path == "/v1/checkout/sessions":
                return self._session_create(params)
            if method == "POST" and path == "/v1/payment_intents":
                return self._intent_create(params)
        return 404, {"error": {"type": "invalid_request_error", "message": f"no route {path}"}}

    def _customer_create(self, params: dict[str, Any]) -> dict[str, Any]:
        customer = {
            "id": _id("cus"),
            "object": "customer",
            "email": params.get("email"),
            "metadata": params.get("metadata", {}),
            "cards": [],
        }
        self.customers[customer["id"]] = customer
        return {k: v for k, v in customer.items() if k != "cards"}

    def _payment_methods(self, customer_id: str) -> tuple[int, Any]:
        customer = self.customers.get(customer_id)
        if customer is None:
            return 404, {"error": {"type": "invalid_request_error", "code": "resource_missing"}}
        data = [{"id": pm, "object": "payment_method", "type": "card"} for pm in customer["cards"]]
        return 200, {"object": "list", "data": data[:1], "has_more": len(data) > 1}

    def _session_create(self, params: dict[str, Any]) -> tuple[int, Any]:
        if params.get("customer") not in self.customers:
            return 400, {"error": {"type": "invalid_request_error", "param": "customer"}}
        item = params["line_items"][0]
        amount = int(item["price_data"]["unit_amount"]) * int(item.get("quantity", 1))
        session_id = _id("cs")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": params["mode"],
            "customer": params["customer"],
            "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata", {}),
            "amount_total": amount,
            "currency": item["price_data"]["currency"],
            "payment_status": "unpaid",
            "status": "open",
            "payment_intent": None,
            "success_url": params["success_url"],
            "cancel_url": params.get("cancel_url"),
            "line_items": params["line_items"],
            "payment_intent_data": params.get("payment_intent_data", {}),
            "url": f"{self.url}/pay/{session_id}",
        }
        self.sessions[session_id] = session
        return 200, {k: v for k, v in session.items() if k not in ("line_items",)}

    def session_pay(self, session_id: str, *, card: str = GOOD_CARD) -> dict[str, Any]:
        """The customer pays the session on the checkout page: a succeeded PaymentIntent,
        the card saved on the customer when the session asked for future off-session use."""
        with self.lock:
            session = self.sessions[session_id]
            intent = self._intent_new(
                amount=session["amount_total"],
                currency=session["currency"],
                customer=session["customer"],
                payment_method=card,
                metadata=session["payment_intent_data"].get("metadata", {}),
                status="succeeded",
            )
            session.update(payment_status="paid", status="complete", payment_intent=intent["id"])
            if session["payment_intent_data"].get("setup_future_usage") == "off_session":
                self.customers[session["customer"]]["cards"].append(card)
            return session

    def card_save(self, customer_id: str, card: str) -> None:
        with self.lock:
            self.customers[customer_id]["cards"] = [card]

    def _intent_new(self, **fields: Any) -> dict[str, Any]:
        intent = {"id": _id("pi"), "object": "payment_intent", "latest_charge": _id("ch")}
        intent.update(fields)
        self.intents[intent["id"]] = intent
        return intent

    def _intent_create(self, params: dict[str, Any]) -> tuple[int, Any]:
        method = params.get("payment_method")
        customer = self.customers.get(params.get("customer", ""))
        if customer is None or method not in customer["cards"]:
            return 400, {"error": {"type": "invalid_request_error", "param": "payment_method"}}
        declined = method == DECLINING_CARD
        intent = self._intent_new(
            amount=int(params["amount"]),
            currency=params["currency"],
            customer=params["customer"],
            payment_method=method,
            metadata=params.get("metadata", {}),
            off_session=params.get("off_session") == "true",
            status="requires_payment_method" if declined else "succeeded",
        )
        if declined:
            return 402, {
                "error": {
                    "type": "card_error",
                    "code": "card_declined",
                    "decline_code": "generic_decline",
                    "message": "Your card was declined.",
                    "payment_intent": intent,
                }
            }
        if self.fail_after_charge:
            self.fail_after_charge = False
            return 500, {"error": {"type": "api_error", "message": "An unknown error occurred"}}
        return 200, intent

    # --- events, for the test to deliver -----------------------------------------------------

    def event(self, event_type: str, obj: dict[str, Any], *, event_id: str | None = None) -> bytes:
        """A Stripe event payload (JSON bytes) carrying ``obj`` as ``data.object``."""
        body = {
            "id": event_id or _id("evt"),
            "object": "event",
            "api_version": "2026-10-28.endive",
            "created": int(time.time()),
            "type": event_type,
            "livemode": False,
            "data": {"object": obj},
        }
        return json.dumps(body).encode()

    def session_object(self, session_id: str, **changes: Any) -> dict[str, Any]:
        with self.lock:
            session = dict(self.sessions[session_id])
        session.pop("line_items", None)
        session.update(changes)
        return session

    def charge_object(
        self, payment_intent_id: str, *, amount_refunded: int = 0, **changes: Any
    ) -> dict[str, Any]:
        with self.lock:
            intent = self.intents[payment_intent_id]
        charge = {
            "id": intent["latest_charge"],
            "object": "charge",
            "amount": intent["amount"],
            "currency": intent["currency"],
            "payment_intent": payment_intent_id,
            # Stripe copies a PaymentIntent's metadata to the charge its confirmation makes
            "metadata": dict(intent.get("metadata") or {}),
            "amount_refunded": amount_refunded,
            "refunded": amount_refunded >= intent["amount"],
        }
        charge.update(changes)
        return charge

    def intent_object(self, payment_intent_id: str) -> dict[str, Any]:
        with self.lock:
            return dict(self.intents[payment_intent_id])
