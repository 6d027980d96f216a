"""A payment gateway for local runs and tests, in the steps pagoPA's wallet takes with Nexi's.

The wallet's side (each request signed by the wallet with the PSP's secret, ``x-signature``):

- ``POST /orders/build`` ``{orderId, walletId, contractId, paymentService, resultUrl,
  notificationUrl, notificationToken}`` -> ``{sessionId, redirectUrl}``: the hosted page.
- ``POST /orders/{orderId}/confirm`` ``{sessionId, amount: "0"}`` -> the card typed on the page
  ``{bin, lastFourDigits, expiringDate (MM/YY), circuit, state: GDI_VERIFICATION, iframeUrl}``
  (the 3-D Secure page); 409 while no card has been typed.

Payments' side: charges on the contract an ``EXECUTED`` onboarding opened, their state and
refunds (:mod:`local.psp.charges`).

The citizen's side: ``GET/POST /hosted/{sessionId}`` (card number checked with Luhn, expiry)
and ``GET/POST /3ds/{sessionId}`` (the test code :data:`THREE_DS_CODE`; cancel). The outcome is
POSTed to the order's ``notificationUrl`` with ``Authorization: Bearer <notificationToken>`` and
pagoPA's body ``{timestampOperation, operationId, operationResult, errorCode?, details: {type:
CARD, paymentInstrumentGatewayId, hpan}}``; retried (same ``operationId``) on connection errors,
429 and 5xx. ``hpan`` is SHA-256 hex of (PAN + the platform's salt): the real gateway does not
send it (docs/wallet.md#hpan). ``paymentInstrumentGatewayId`` is the same for the same card.

For tests, without a browser: ``POST /test/sessions/{sessionId}/card {pan, expiryMonth,
expiryYear}``, ``POST /test/sessions/{sessionId}/3ds {threeDsCode}`` or ``{operationResult,
errorCode}`` (any result), ``POST /test/sessions/{sessionId}/replay`` (the last notification
again), ``GET /test/sessions/{sessionId}`` (with the notification token, for suites that post
as the gateway). The PAN is never logged nor kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from local.devclock import DevClock
from local.psp.charges import Charges
from local.psp.pages import (
    THREE_DS_CODE,
    card_page,
    card_saved_page,
    html_page,
    result_page,
    three_ds_page,
)
from shared.auth.signature import HEADER, verify_signature
from shared.platform.errors import Unauthorized

__all__ = ["THREE_DS_CODE", "Simulator", "card_brand", "hpan", "luhn_ok"]

logger = logging.getLogger("psp-simulator")

RESULTS = (
    "AUTHORIZED",
    "EXECUTED",
    "DECLINED",
    "DENIED_BY_RISK",
    "THREEDS_VALIDATED",
    "THREEDS_FAILED",
    "PENDING",
    "CANCELED",
    "VOIDED",
    "REFUNDED",
    "FAILED",
)
_ROME = ZoneInfo("Europe/Rome")
_RETRY_STATUS = {408, 429, 500, 502, 503, 504}


def luhn_ok(number: str) -> bool:
    """Whether ``number`` (digits only, 12-19 of them) passes the Luhn check."""
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def card_brand(pan: str) -> str:
    if pan.startswith("4"):
        return "VISA"
    if pan[:2] in {"51", "52", "53", "54", "55"} or 2221 <= int(pan[:4]) <= 2720:
        return "MASTERCARD"
    if pan[:2] in {"34", "37"}:
        return "AMEX"
    return "OTHER"


def hpan(pan: str, salt: str) -> str:
    """SHA-256 hex of the PAN plus the salt: what acquirers put on transactions."""
    return hashlib.sha256((pan + salt).encode()).hexdigest()


class Refused(ValueError):
    """The citizen's input cannot be used (shown on the page, or a 400 for the test API)."""


@dataclass
class Card:
    bin: str
    last4: str
    month: int
    year: int
    brand: str
    gateway_id: str
    hpan: str


@dataclass
class Session:
    session_id: str
    order_id: str
    wallet_id: str
    return_url: str
    notification_url: str
    token: str
    contract_id: str = ""
    state: str = "OPEN"  # OPEN -> CARD -> DONE
    card: Card | None = None
    result: str | None = None
    attempts: int = 0
    wallet_status: int | None = None
    wallet_answer: Any = None
    notifications: list[dict[str, Any]] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        return {
            "sessionId": self.session_id,
            "orderId": self.order_id,
            "walletId": self.wallet_id,
            "state": self.state,
            "result": self.result,
            "attempts": self.attempts,
            "walletStatus": self.wallet_status,
            "walletAnswer": self.wallet_answer,
            "notifications": [n["operationResult"] for n in self.notifications],
        }


class Simulator:
    def __init__(
        self,
        *,
        clock: DevClock,
        secret: str,
        salt: str,
        attempts: int = 6,
        backoff: float = 1.0,
    ) -> None:
        self.clock = clock
        self.secret = secret
        self.salt = salt
        self.attempts = attempts
        self.backoff = backoff
        self.sessions: dict[str, Session] = {}
        self.orders: dict[str, Session] = {}
        self.http: aiohttp.ClientSession | None = None
        self.charges = Charges(clock, secret)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_post("/orders/build", self.build_order)
        app.router.add_post("/orders/{orderId}/confirm", self.confirm)
        app.router.add_get("/hosted/{sessionId}", self.card_form)
        app.router.add_post("/hosted/{sessionId}", self.card_submit)
        app.router.add_get("/3ds/{sessionId}", self.three_ds_form)
        app.router.add_post("/3ds/{sessionId}", self.three_ds_submit)
        app.router.add_post("/test/sessions/{sessionId}/card", self.test_card)
        app.router.add_post("/test/sessions/{sessionId}/3ds", self.test_three_ds)
        app.router.add_post("/test/sessions/{sessionId}/replay", self.test_replay)
        app.router.add_get("/test/sessions/{sessionId}", self.show)
        self.charges.routes(app)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)
        return app

    async def _start(self, app: web.Application) -> None:
        connector = aiohttp.TCPConnector(limit=64, limit_per_host=64, keepalive_timeout=30)
        self.http = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=10, connect=3)
        )

    async def _stop(self, app: web.Application) -> None:
        if self.http is not None:
            await self.http.close()

    # ------------------------------------------------------------------ the wallet's API
    async def _signed(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        verify_signature(request.headers.get(HEADER), raw, self.secret, now=self.clock.now())
        body = json.loads(raw)
        if not isinstance(body, dict):
            raise ValueError("not an object")
        return body

    async def build_order(self, request: web.Request) -> web.Response:
        try:
            body = await self._signed(request)
            order_id, wallet_id = str(body["orderId"]), str(body["walletId"])
            result_url, notify = str(body["resultUrl"]), str(body["notificationUrl"])
            token = str(body["notificationToken"])
        except Unauthorized as error:
            return _problem(401, error.detail)
        except (ValueError, KeyError, TypeError):
            return _problem(400, "expected {orderId, walletId, resultUrl, notificationUrl, ...}")
        if order_id in self.orders:
            return _problem(409, "order already built")
        session = Session(
            uuid.uuid4().hex,
            order_id,
            wallet_id,
            result_url,
            notify,
            token,
            contract_id=str(body.get("contractId") or ""),
        )
        self.sessions[session.session_id] = self.orders[order_id] = session
        redirect = f"{request.scheme}://{request.host}/hosted/{session.session_id}"
        return web.json_response({"sessionId": session.session_id, "redirectUrl": redirect})

    async def confirm(self, request: web.Request) -> web.Response:
        try:
            body = await self._signed(request)
        except Unauthorized as error:
            return _problem(401, error.detail)
        except ValueError:
            return _problem(400, "expected a JSON object")
        session = self.orders.get(request.match_info["orderId"])
        if session is None or session.session_id != body.get("sessionId"):
            return _problem(404, "unknown order")
        if session.card is None:
            return _problem(409, "no card typed yet")
        card = session.card
        return web.json_response(
            {
                "state": "GDI_VERIFICATION",
                "bin": card.bin,
                "lastFourDigits": card.last4,
                "expiringDate": f"{card.month:02d}/{card.year % 100:02d}",
                "circuit": card.brand,
                "iframeUrl": f"{request.scheme}://{request.host}/3ds/{session.session_id}",
            }
        )

    # ------------------------------------------------------------------ the citizen's pages
    async def card_form(self, request: web.Request) -> web.Response:
        session = self.sessions.get(request.match_info["sessionId"])
        if session is None:
            return html_page(404, "<h1>Unknown session</h1>")
        return html_page(200, card_page(error=None))

    async def card_submit(self, request: web.Request) -> web.Response:
        session = self.sessions.get(request.match_info["sessionId"])
        if session is None:
            return html_page(404, "<h1>Unknown session</h1>")
        fields = {k: str(v).strip() for k, v in (await request.post()).items()}
        try:
            self.read_card(session, fields)
        except Refused as error:
            return html_page(400, card_page(error=str(error)))
        return html_page(
            200, card_saved_page(session.return_url, session.wallet_id, session.order_id)
        )

    async def three_ds_form(self, request: web.Request) -> web.Response:
        session = self.sessions.get(request.match_info["sessionId"])
        if session is None or session.card is None:
            return html_page(404, "<h1>Unknown session</h1>")
        if session.state == "DONE":
            return html_page(200, result_page(session.result or "", session.return_url, ""))
        return html_page(200, three_ds_page(error=None))

    async def three_ds_submit(self, request: web.Request) -> web.Response:
        session = self.sessions.get(request.match_info["sessionId"])
        if session is None or session.card is None:
            return html_page(404, "<h1>Unknown session</h1>")
        if session.state == "DONE":
            return html_page(409, result_page(session.result or "", session.return_url, ""))
        fields = {k: str(v).strip() for k, v in (await request.post()).items()}
        if fields.get("action") == "cancel":
            await self.finish(session, "CANCELED", None)
        else:
            await self.check_code(session, fields.get("threeDsCode", ""))
        return html_page(
            200, result_page(session.result or "", session.return_url, session.wallet_id)
        )

    # ------------------------------------------------------------------ the test API
    async def _test_session(self, request: web.Request) -> tuple[Session, dict[str, str]]:
        session = self.sessions.get(request.match_info["sessionId"])
        if session is None:
            raise web.HTTPNotFound()
        try:
            body = await request.json() if request.can_read_body else {}
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="expected a JSON object")
        return session, {k: str(v) for k, v in body.items() if v is not None}

    async def test_card(self, request: web.Request) -> web.Response:
        session, fields = await self._test_session(request)
        try:
            self.read_card(session, fields)
        except Refused as error:
            return _problem(400, str(error))
        return web.json_response(session.public())

    async def test_three_ds(self, request: web.Request) -> web.Response:
        session, fields = await self._test_session(request)
        if session.card is None:
            return _problem(409, "no card typed yet")
        result = fields.get("operationResult")
        if result is not None:
            if result not in RESULTS:
                return _problem(400, f"operationResult must be one of {', '.join(RESULTS)}")
            await self.finish(session, result, fields.get("errorCode"))
        else:
            await self.check_code(session, fields.get("threeDsCode", ""))
        return web.json_response(session.public())

    async def test_replay(self, request: web.Request) -> web.Response:
        session, _ = await self._test_session(request)
        if not session.notifications:
            return _problem(409, "nothing notified yet")
        await self.deliver(session, session.notifications[-1])
        return web.json_response(session.public())

    async def show(self, request: web.Request) -> web.Response:
        session = self.sessions.get(request.match_info["sessionId"])
        if session is None:
            return _problem(404, "unknown session")
        # Test-only: the notification token, so suites can post as the gateway would.
        return web.json_response({**session.public(), "token": session.token})

    # ------------------------------------------------------------------ the work
    def read_card(self, session: Session, fields: dict[str, str]) -> None:
        """What the hosted fields do: check the card; keep what the wallet may learn of it."""
        if session.state == "DONE":
            raise Refused("the session is over")
        pan = fields.get("pan", "").replace(" ", "")
        if not luhn_ok(pan):
            raise Refused("the card number is not valid")
        try:
            month, year = int(fields.get("expiryMonth", "")), int(fields.get("expiryYear", ""))
        except ValueError:
            raise Refused("the expiry is not valid") from None
        year = year + 2000 if year < 100 else year
        today = self.clock.now().astimezone(_ROME)
        if not 1 <= month <= 12 or (year, month) < (today.year, today.month) or year > 2099:
            raise Refused("the card has expired or the expiry is not valid")
        gateway_id = str(uuid.UUID(hashlib.sha256(f"pig:{pan}".encode()).hexdigest()[:32]))
        session.card = Card(
            pan[:6], pan[-4:], month, year, card_brand(pan), gateway_id, hpan(pan, self.salt)
        )
        session.state = "CARD"

    async def check_code(self, session: Session, code: str) -> None:
        if code == THREE_DS_CODE:
            await self.finish(session, "EXECUTED", None)
        else:
            await self.finish(session, "THREEDS_FAILED", "3DS_AUTHENTICATION_FAILED")

    async def finish(self, session: Session, result: str, error_code: str | None) -> None:
        session.state, session.result = "DONE", result
        assert session.card is not None
        if result == "EXECUTED" and session.contract_id:
            # The recurring contract payments charge from now on.
            self.charges.open_contract(session.contract_id, session.card.gateway_id)
        body: dict[str, Any] = {
            "timestampOperation": self.clock.now().isoformat(),
            "operationId": uuid.uuid4().hex,
            "operationResult": result,
            "details": {
                "type": "CARD",
                "paymentInstrumentGatewayId": session.card.gateway_id,
                "hpan": session.card.hpan,
            },
        }
        if error_code:
            body["errorCode"] = error_code
        session.notifications.append(body)
        await self.deliver(session, body)

    async def deliver(self, session: Session, body: dict[str, Any]) -> None:
        """POST the notification until the wallet answers other than 429/5xx (the same
        operationId each time: the wallet applies an operation once)."""
        assert self.http is not None
        raw = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {session.token}"}
        for attempt in range(self.attempts):
            if attempt:
                await asyncio.sleep(min(8.0, self.backoff * 2 ** (attempt - 1)))
            session.attempts += 1
            try:
                async with self.http.post(
                    session.notification_url, data=raw, headers=headers
                ) as answer:
                    text = await answer.read()
                    status = answer.status
            except (aiohttp.ClientError, TimeoutError) as error:
                logger.warning(
                    "notification of %s failed: %s; retrying",
                    session.order_id,
                    type(error).__name__,
                )
                continue
            session.wallet_status = status
            try:
                session.wallet_answer = json.loads(text) if text else None
            except ValueError:
                session.wallet_answer = None
            if status not in _RETRY_STATUS:
                logger.info("notification of %s: wallet answered %s", session.order_id, status)
                return
        logger.warning("notification of %s not delivered", session.order_id)


def _problem(status: int, detail: str) -> web.Response:
    return web.json_response(
        {"status": status, "detail": detail}, status=status, content_type="application/problem+json"
    )
