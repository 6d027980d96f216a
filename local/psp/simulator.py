"""A PSP for local runs and tests: onboarding sessions, a hosted page, signed notifications.

What a real PSP does for the wallet, in the small:

- ``POST /sessions`` (signed by the wallet with the shared secret): ``{walletId, type,
  returnUrl, notificationUrl}`` -> 201 ``{sessionId, redirectUrl}``.
- ``GET /onboarding/{sessionId}``: the hosted page, a plain HTML form (card number checked with
  Luhn, expiry, and the test 3-D Secure code :data:`THREE_DS_CODE`; phone number for BPAY and
  Satispay). Opening it tells the wallet the citizen is here (a ``PENDING`` notification).
- ``POST /onboarding/{sessionId}``: the form's submit (or its cancel button) ends the session.
- ``POST /test/sessions/{sessionId}/complete`` ``{pan | phone, expiryMonth, expiryYear, outcome,
  threeDsCode, reason}``: the same without a browser, for tests; answers once the wallet has
  answered the notification. ``GET /test/sessions/{sessionId}`` shows a session (never a PAN).

On completion it computes ``hpan`` = SHA-256 hex of (PAN + the platform's salt) and POSTs the
outcome to the session's ``notificationUrl`` with ``x-signature`` and nothing else of the
wallet's (a PSP holds no key of ours: the route is checked by the signature; signed at the dev
clock's time), retrying with backoff on connection errors, 429 and 5xx, signing each
attempt afresh (a later ``t``: the wallet refuses a replayed signature). The PAN is never logged
nor kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from local.devclock import DevClock
from shared.auth.signature import HEADER, sign, verify_signature
from shared.platform.errors import Unauthorized

logger = logging.getLogger("psp-simulator")

THREE_DS_CODE = "123456"
TYPES = ("CARD", "BANCOMAT", "BPAY", "SATISPAY")
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


def hpan(secret_value: str, salt: str) -> str:
    """SHA-256 hex of the PAN (or phone) plus the salt: what acquirers put on transactions."""
    return hashlib.sha256((secret_value + salt).encode()).hexdigest()


class Refused(ValueError):
    """The citizen's input cannot be used (shown on the page, or a 400 for the test API)."""


@dataclass
class Session:
    session_id: str
    wallet_id: str
    type: str
    return_url: str
    notification_url: str
    state: str = "OPEN"  # OPEN -> STARTED (page opened) -> DONE
    outcome: str | None = None
    attempts: int = 0
    wallet_status: int | None = None
    notifications: list[str] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        return {
            "sessionId": self.session_id,
            "walletId": self.wallet_id,
            "type": self.type,
            "state": self.state,
            "outcome": self.outcome,
            "attempts": self.attempts,
            "walletStatus": self.wallet_status,
            "notifications": self.notifications,
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
        self.http: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_post("/sessions", self.open_session)
        app.router.add_get("/onboarding/{sessionId}", self.page)
        app.router.add_post("/onboarding/{sessionId}", self.submit)
        app.router.add_post("/test/sessions/{sessionId}/complete", self.complete)
        app.router.add_get("/test/sessions/{sessionId}", self.show)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)
        return app

    async def _start(self, app: web.Application) -> None:
        connector = aiohttp.TCPConnector(limit=64, limit_per_host=64, keepalive_timeout=30)
        self.http = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=10, connect=3)
        )

    async def _stop(self, app: web.Application) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.http is not None:
            await self.http.close()

    # ------------------------------------------------------------------ the wallet's API
    async def open_session(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            verify_signature(request.headers.get(HEADER), raw, self.secret, now=self.clock.now())
        except Unauthorized as error:
            return _problem(401, error.detail)
        try:
            body = json.loads(raw)
            wallet_id, type_ = str(body["walletId"]), str(body["type"])
            return_url, notify = str(body["returnUrl"]), str(body["notificationUrl"])
        except (ValueError, KeyError, TypeError):
            return _problem(400, "expected {walletId, type, returnUrl, notificationUrl}")
        if type_ not in TYPES:
            return _problem(400, f"unknown instrument type {type_[:20]}")
        session = Session(uuid.uuid4().hex, wallet_id, type_, return_url, notify)
        self.sessions[session.session_id] = session
        redirect = f"{request.scheme}://{request.host}/onboarding/{session.session_id}"
        return web.json_response(
            {"sessionId": session.session_id, "redirectUrl": redirect}, status=201
        )

    # ------------------------------------------------------------------ the hosted page
    async def page(self, request: web.Request) -> web.Response:
        session = self.sessions.get(request.match_info["sessionId"])
        if session is None:
            return _html(404, "<h1>Unknown session</h1>")
        if session.state == "DONE":
            return _html(200, _result_page(session))
        if session.state == "OPEN":
            session.state = "STARTED"
            self._background(self.deliver(session, "PENDING", {}))
        return _html(200, _form_page(session, error=None))

    async def submit(self, request: web.Request) -> web.Response:
        session = self.sessions.get(request.match_info["sessionId"])
        if session is None:
            return _html(404, "<h1>Unknown session</h1>")
        if session.state == "DONE":
            return _html(409, _result_page(session))
        form = await request.post()
        fields = {k: str(v).strip() for k, v in form.items()}
        if fields.get("action") == "cancel":
            outcome, details = "CANCELED", {"reason": "the citizen canceled on the PSP page"}
        else:
            try:
                outcome, details = self.authorize(session, fields)
            except Refused as error:
                return _html(400, _form_page(session, error=str(error)))
        await self.finish(session, outcome, details)
        return _html(200, _result_page(session))

    # ------------------------------------------------------------------ the test API
    async def complete(self, request: web.Request) -> web.Response:
        session = self.sessions.get(request.match_info["sessionId"])
        if session is None:
            return _problem(404, "unknown session")
        if session.state == "DONE":
            return _problem(409, "the session is over")
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("not an object")
            fields = {k: str(v) for k, v in body.items() if v is not None}
        except ValueError:
            return _problem(400, "expected a JSON object")
        outcome = fields.get("outcome", "OK")
        if outcome not in ("OK", "KO", "CANCELED"):
            return _problem(400, "outcome must be OK, KO or CANCELED")
        if outcome == "OK":
            try:
                outcome, details = self.authorize(session, fields)
            except Refused as error:
                return _problem(400, str(error))
        else:
            details = {"reason": fields["reason"]} if fields.get("reason") else {}
        await self.finish(session, outcome, details)
        return web.json_response(session.public())

    async def show(self, request: web.Request) -> web.Response:
        session = self.sessions.get(request.match_info["sessionId"])
        if session is None:
            return _problem(404, "unknown session")
        return web.json_response(session.public())

    # ------------------------------------------------------------------ the work
    def authorize(self, session: Session, fields: dict[str, str]) -> tuple[str, dict[str, Any]]:
        """Check what the citizen typed; the outcome and the details for the wallet."""
        contract = f"contract-{uuid.uuid4().hex[:16]}"
        if session.type in ("CARD", "BANCOMAT"):
            pan = fields.get("pan", "").replace(" ", "")
            if not luhn_ok(pan):
                raise Refused("the card number is not valid")
            month, year = self._expiry(fields)
            details: dict[str, Any] = {
                "brand": card_brand(pan) if session.type == "CARD" else "PAGOBANCOMAT",
                "last4": pan[-4:],
                "expiryMonth": month,
                "expiryYear": year,
                "hpan": hpan(pan, self.salt),
                "contractId": contract,
            }
            if session.type == "BANCOMAT":
                details["abi"] = "03069"
        else:
            phone = fields.get("phone", "").replace(" ", "")
            digits = phone.lstrip("+")
            if not digits.isdigit() or not 8 <= len(digits) <= 15:
                raise Refused("the phone number is not valid")
            details = {
                "maskedPhone": f"+{digits[:2]} ****{digits[-4:]}",
                "hpan": hpan(digits, self.salt),
                "contractId": contract,
            }
            if session.type == "BPAY":
                details["bankName"] = "Banca Demo"
        if fields.get("threeDsCode") != THREE_DS_CODE:
            return "KO", {"reason": "strong customer authentication failed"}
        return "OK", details

    def _expiry(self, fields: dict[str, str]) -> tuple[int, int]:
        try:
            month, year = int(fields.get("expiryMonth", "")), int(fields.get("expiryYear", ""))
        except ValueError:
            raise Refused("the expiry is not valid") from None
        if year < 100:
            year += 2000
        today = self.clock.now().astimezone(_ROME)
        if not 1 <= month <= 12 or (year, month) < (today.year, today.month) or year > 2100:
            raise Refused("the card has expired or the expiry is not valid")
        return month, year

    async def finish(self, session: Session, outcome: str, details: dict[str, Any]) -> None:
        session.state, session.outcome = "DONE", outcome
        await self.deliver(session, outcome, details)

    async def deliver(self, session: Session, outcome: str, details: dict[str, Any]) -> None:
        """POST the signed notification until the wallet answers other than 429/5xx."""
        assert self.http is not None
        body = json.dumps(
            {
                "walletId": session.wallet_id,
                "sessionId": session.session_id,
                "outcome": outcome,
                "details": details,
            }
        ).encode()
        session.notifications.append(outcome)
        signed_at = 0
        for attempt in range(self.attempts):
            if attempt:
                await asyncio.sleep(min(8.0, self.backoff * 2 ** (attempt - 1)))
            session.attempts += 1
            # Each attempt is a new signature (a later t): the wallet refuses an exact replay.
            signed_at = max(int(self.clock.now().timestamp()), signed_at + 1)
            headers = {
                "Content-Type": "application/json",
                HEADER: sign(self.secret, body, signed_at),
            }
            try:
                async with self.http.post(
                    session.notification_url, data=body, headers=headers
                ) as answer:
                    await answer.read()
                    status = answer.status
            except (aiohttp.ClientError, TimeoutError) as error:
                logger.warning(
                    "notification of %s (%s) failed: %s; retrying",
                    session.session_id,
                    outcome,
                    type(error).__name__,
                )
                continue
            session.wallet_status = status
            if status not in _RETRY_STATUS:
                logger.info(
                    "notification of %s (%s): wallet answered %s",
                    session.session_id,
                    outcome,
                    status,
                )
                return
        logger.warning(
            "notification of %s (%s) not delivered after %s attempts",
            session.session_id,
            outcome,
            self.attempts,
        )

    def _background(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


# ---------------------------------------------------------------------- pages
_STYLE = (
    "body{font-family:sans-serif;max-width:26rem;margin:2rem auto}label{display:block;"
    "margin:.6rem 0}input{width:100%;padding:.3rem}.error{color:#b00}"
)


def _html(status: int, content: str) -> web.Response:
    page = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Demo PSP</title>"
        f"<style>{_STYLE}</style></head><body>{content}</body></html>"
    )
    return web.Response(text=page, status=status, content_type="text/html")


def _form_page(session: Session, *, error: str | None) -> str:
    kind = html.escape(session.type)
    if session.type in ("CARD", "BANCOMAT"):
        inputs = (
            "<label>Card number <input name=pan inputmode=numeric autocomplete=cc-number "
            'required pattern="[0-9 ]{12,23}"></label>'
            "<label>Expiry month <input name=expiryMonth inputmode=numeric required "
            'pattern="[0-9]{1,2}"></label>'
            "<label>Expiry year <input name=expiryYear inputmode=numeric required "
            'pattern="[0-9]{2,4}"></label>'
        )
    else:
        inputs = (
            "<label>Phone number <input name=phone inputmode=tel required "
            'pattern="[+]?[0-9 ]{8,18}"></label>'
        )
    warning = f"<p class=error role=alert>{html.escape(error)}</p>" if error else ""
    luhn = (
        "<script>document.forms[0].addEventListener('submit',function(e){"
        "var p=this.pan;if(!p||e.submitter&&e.submitter.value==='cancel')return;"
        "var d=p.value.replace(/ /g,''),s=0;for(var i=0;i<d.length;i++){"
        "var n=+d[d.length-1-i];if(i%2){n*=2;if(n>9)n-=9}s+=n}"
        "if(s%10){e.preventDefault();p.setCustomValidity('Not a valid card number');"
        "p.reportValidity();p.setCustomValidity('')}});</script>"
    )
    return (
        f"<h1>Demo PSP</h1><p>Add your {kind} to the wallet.</p>{warning}"
        f"<form method=post>{inputs}"
        f"<label>3-D Secure code (test: {THREE_DS_CODE}) <input name=threeDsCode "
        f"inputmode=numeric required></label>"
        f"<button name=action value=pay>Confirm</button> "
        f"<button name=action value=cancel formnovalidate>Cancel</button></form>{luhn}"
    )


def _result_page(session: Session) -> str:
    outcome = html.escape(session.outcome or "")
    back = html.escape(
        f"{session.return_url}?walletId={session.wallet_id}&outcome={outcome}", quote=True
    )
    return (
        f"<h1>Demo PSP</h1><p>Outcome: <strong id=outcome>{outcome}</strong></p>"
        f'<p><a href="{back}">Back to the app</a></p>'
    )


def _problem(status: int, detail: str) -> web.Response:
    return web.json_response(
        {"status": status, "detail": detail}, status=status, content_type="application/problem+json"
    )
