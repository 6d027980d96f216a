"""A creditor institution's (EC's) station for local runs and tests, with outages on demand.

The payment gateway forwards payment calls to an EC's station; this simulator is that station,
so an EC that is slow, flaky or unreachable can be staged in tests and by hand.

The gateway calls it in SOAP, as pagoPA's node calls a station: ``POST /paForNode``
(paVerifyPaymentNotice, paGetPaymentV2, paSendRTV2; :mod:`local.ecsim.soap`), answering only
``PAA_*`` codes, with the same books, staged faults and control API as below.

The older JSON routes (base ``/ec/v1``) still serve the same books; every call needs
``Ocp-Apim-Subscription-Key`` with the station credential, else 401 without a body; a body
that is not JSON is 400 ``PAA_SINTASSI_EXTRAXSD``, one that lacks a field or has one of the
wrong type 400 ``PAA_SINTASSI_XSD``; refusals are ``{"outcome": "KO", "faultCode",
"description"}``):

- ``POST /verify`` ``{paFiscalCode, noticeNumber}`` -> the notice with ``"status": "VALID"``;
  404 ``PAA_PAGAMENTO_SCONOSCIUTO``, 409 ``PAA_PAGAMENTO_DUPLICATO`` (paid), 410
  ``PAA_PAGAMENTO_SCADUTO`` (past its dueDate by the dev clock).
- ``POST /activate`` ``{..., amount, paymentToken, idempotencyKey, pspId, expiresAt}`` -> the
  notice and the token; the refusals of verify, 422 ``PAA_SEMANTICA`` (another amount) and 409
  ``PAA_PAGAMENTO_IN_CORSO`` (another token is live; the same token again is OK).
- ``POST /receipt`` ``{receiptId, paymentToken, ..., standIn, outcome}`` -> ``{"outcome":
  "OK"}``; a receiptId already received is 409 ``PAA_RECEIPT_DUPLICATA``.

Staged faults, drawn per call from one seedable random (:class:`Behaviour`): ``timeoutFraction``
of the calls are never answered (held until the client disconnects, and not processed);
``notActiveFraction`` are answered 503 without a body (not processed); ``delayMs`` delays
every answer (the call is processed first, as a slow EC would: a client that gives up may still
have paid). ``down`` closes the listener and drops the open
connections, so new ones are refused; ``up`` listens again on the same port.

Control API (its own port, no auth; see docs/local-platform.md): ``GET /control``,
``PUT /control/behaviour``, ``PUT /control/notices``, ``GET /control/notices/{pa}/{notice}``,
``GET /control/receipts``, ``POST /control/reset``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from local.ecsim.book import Book, Refusal
from local.ecsim.models import (
    ActivateIn,
    BehaviourIn,
    Notice,
    NoticeIn,
    ReceiptIn,
    ResetIn,
    State,
    VerifyIn,
    iso_utc,
)
from local.ecsim.soap import OPERATION_OF, SOAP_PATH
from local.ecsim.soap import answer as soap_answer
from shared.pagopa import soap
from shared.platform.clock import Clock

logger = logging.getLogger("ec-simulator")

BASE_PATH = "/ec/v1"
AUTH_HEADER = "Ocp-Apim-Subscription-Key"
OPERATIONS = ("verify", "activate", "receipt")
_BODILESS = {503: "SERVICE_NOT_ACTIVE", 401: "UNAUTHORIZED"}
"""Answers without a body (as the gateway in front of a station gives them) and the label each
counts under: an EC emits no node code, and PAA_* has none for these."""

DEMO_EC_FISCAL_CODE = "77777777777"
"""The demo EC of the local platform (Comune di Demo)."""
_DEMO_DUE = datetime(2099, 12, 31, 22, 59, 59, tzinfo=UTC)
DEMO_NOTICES: tuple[Notice, ...] = (
    Notice(
        DEMO_EC_FISCAL_CODE,
        "300000000000000101",
        15_000,
        _DEMO_DUE,
        "TARI 2026 - first instalment",
        "Comune di Demo",
    ),
    Notice(
        DEMO_EC_FISCAL_CODE,
        "300000000000000102",
        4_990,
        _DEMO_DUE,
        "Nursery school - March fee",
        "Comune di Demo",
    ),
    Notice(
        DEMO_EC_FISCAL_CODE,
        "300000000000000103",
        8_400,
        _DEMO_DUE,
        "Parking fine 2026/0042",
        "Comune di Demo",
    ),
    Notice(
        DEMO_EC_FISCAL_CODE,
        "300000000000000104",
        120_000,
        _DEMO_DUE,
        "Building permit fee",
        "Comune di Demo",
    ),
)
"""What ``--demo`` seeds: notices of the demo EC, due far in the future."""

_NOTICES = TypeAdapter(list[NoticeIn])
Operation = Callable[[bytes, datetime], dict[str, Any]]


@dataclass
class Behaviour:
    """How the station behaves now (``PUT /control/behaviour`` changes it)."""

    state: State = "up"
    delay_ms: int = 0
    timeout_fraction: float = 0.0
    not_active_fraction: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "delayMs": self.delay_ms,
            "timeoutFraction": self.timeout_fraction,
            "notActiveFraction": self.not_active_fraction,
        }


@dataclass
class Counters:
    """Calls per operation, and answers per operation and outcome (``OK`` or a fault code)."""

    calls: Counter[str] = field(default_factory=Counter)
    answers: dict[str, Counter[str]] = field(
        default_factory=lambda: {name: Counter() for name in OPERATIONS}
    )
    held: int = 0  # calls never answered (timeoutFraction)

    def answered(self, operation: str, body: dict[str, Any]) -> None:
        self.answers[operation][str(body.get("faultCode", "OK"))] += 1

    def to_json(self) -> dict[str, Any]:
        outcomes: Counter[str] = Counter()
        for per_outcome in self.answers.values():
            outcomes.update(per_outcome)
        return {
            "calls": {name: self.calls[name] for name in OPERATIONS},
            "answers": {name: dict(self.answers[name]) for name in OPERATIONS},
            "outcomes": dict(outcomes),
            "held": self.held,
        }


class EcSimulator:
    """One EC station: the service listener (that can go down) and the control listener."""

    def __init__(
        self,
        *,
        credential: str,
        clock: Clock,
        seed: int | None = None,
        notices: Iterable[Notice] = (),
    ) -> None:
        if not credential:
            raise ValueError("the station needs a credential")
        self.credential = credential
        self.clock = clock
        self.initial_notices = tuple(notices)
        self.book = Book()
        self.book.put(self.initial_notices)
        self.behaviour = Behaviour()
        self.counters = Counters()
        self.holding = 0  # calls held right now
        self.seed_at_start = seed
        self._reseed(seed)
        self._operations: dict[str, Operation] = {
            "verify": self._verify,
            "activate": self._activate,
            "receipt": self._receipt,
        }
        self._service: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None
        self._control: web.AppRunner | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self.control_port = 0

    # ---------------------------------------------------------------- lifecycle
    def service_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024)
        for name in OPERATIONS:
            app.router.add_post(f"{BASE_PATH}/{name}", self._handler(name))
        app.router.add_post(SOAP_PATH, self._soap)
        return app

    def control_app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_get("/control", self._status)
        app.router.add_put("/control/behaviour", self._set_behaviour)
        app.router.add_put("/control/notices", self._put_notices)
        app.router.add_get("/control/notices/{paFiscalCode}/{noticeNumber}", self._show_notice)
        app.router.add_get("/control/receipts", self._receipts)
        app.router.add_post("/control/reset", self._reset)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0, control_port: int = 0) -> None:
        """Listen for the station's calls on ``port`` and for control on ``control_port``
        (0: any free port; :attr:`port` and :attr:`control_port` are the real ones)."""
        self.host, self.port = host, port
        # A client that gives up cancels its handler: a held call ends when its client goes.
        self._service = web.AppRunner(
            self.service_app(), access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await self._service.setup()
        await self.listen()
        self._control = web.AppRunner(self.control_app(), access_log=None)
        await self._control.setup()
        await web.TCPSite(self._control, host, control_port).start()
        self.control_port = int(self._control.addresses[0][1])

    async def stop(self) -> None:
        await self.unlisten()
        for runner in (self._service, self._control):
            if runner is not None:
                await runner.cleanup()
        self._service = self._control = None

    @property
    def listening(self) -> bool:
        return self._listener is not None

    async def listen(self) -> None:
        """Accept the station's calls again, on the same port as before."""
        if self._listener is not None:
            return
        server = self._service.server if self._service is not None else None
        if server is None:
            raise RuntimeError("start() the simulator first")
        loop = asyncio.get_running_loop()
        self._listener = await loop.create_server(
            server, self.host, self.port, reuse_address=True, backlog=256
        )
        self.port = int(self._listener.sockets[0].getsockname()[1])
        self.behaviour.state = "up"

    async def unlisten(self) -> None:
        """Be unreachable: close the listener and drop every open connection (held calls
        included), so a client's pooled connection fails and a new one is refused."""
        self.behaviour.state = "down"
        listener, self._listener = self._listener, None
        if listener is None:
            return
        listener.close()
        server = self._service.server if self._service is not None else None
        for connection in server.connections if server is not None else ():
            connection.force_close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await listener.wait_closed()

    # ---------------------------------------------------------------- the station
    def _handler(self, operation: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            self.counters.calls[operation] += 1
            delay = self.behaviour.delay_ms / 1000
            if self._draw(self.behaviour.timeout_fraction):
                return await self._never_answer()
            status, body = await self._answer(request, operation)
            if delay:
                await asyncio.sleep(delay)
            if status in _BODILESS:
                self._count(operation, _BODILESS[status])
                return web.Response(status=status)
            self.counters.answered(operation, body)
            return web.json_response(body, status=status)

        return handler

    async def _soap(self, request: web.Request) -> web.Response:
        """paForNode: the same books, faults and behaviour as the JSON routes, in SOAP."""
        raw = await request.read()
        operation = _soap_operation(raw)
        if operation is not None:
            self.counters.calls[operation] += 1
        if self._draw(self.behaviour.timeout_fraction):
            return await self._never_answer()
        if self._draw(self.behaviour.not_active_fraction):
            self._count(operation, "SERVICE_NOT_ACTIVE")
            return web.Response(status=503)
        if not self._authorized(request):
            self._count(operation, "UNAUTHORIZED")
            return web.Response(status=401)
        status, body, _, code = soap_answer(self.book, raw, self.clock.now())
        if self.behaviour.delay_ms:
            await asyncio.sleep(self.behaviour.delay_ms / 1000)
        self._count(operation, code)
        return web.Response(body=body, status=status, content_type="text/xml", charset="utf-8")

    def _count(self, operation: str | None, code: str) -> None:
        if operation is not None:
            self.counters.answered(operation, {} if code == "OK" else {"faultCode": code})

    async def _never_answer(self) -> web.Response:
        """Hold the call until its client disconnects (which cancels this handler) or the
        service goes down; an event nobody sets waits without spinning."""
        self.counters.held += 1
        self.holding += 1
        try:
            await asyncio.Event().wait()
        finally:
            self.holding -= 1
        raise AssertionError("an event nobody sets never ends its wait")

    async def _answer(self, request: web.Request, operation: str) -> tuple[int, dict[str, Any]]:
        if self._draw(self.behaviour.not_active_fraction):
            return 503, {}
        if not self._authorized(request):
            return 401, {}
        raw = await request.read()
        try:
            return 200, self._operations[operation](raw, self.clock.now())
        except ValidationError as error:
            not_json = any(e["type"] == "json_invalid" for e in error.errors())
            code = "PAA_SINTASSI_EXTRAXSD" if not_json else "PAA_SINTASSI_XSD"
            return 400, _ko(code, _describe(error))
        except Refusal as refusal:
            return refusal.status, refusal.to_json()

    def _authorized(self, request: web.Request) -> bool:
        given = request.headers.get(AUTH_HEADER, "")
        return hmac.compare_digest(given.encode(), self.credential.encode())

    def _verify(self, raw: bytes, now: datetime) -> dict[str, Any]:
        return self.book.verify(VerifyIn.model_validate_json(raw), now)

    def _activate(self, raw: bytes, now: datetime) -> dict[str, Any]:
        return self.book.activate(ActivateIn.model_validate_json(raw), now)

    def _receipt(self, raw: bytes, now: datetime) -> dict[str, Any]:
        receipt = ReceiptIn.model_validate_json(raw)
        answer = self.book.receive(receipt, json.loads(raw), now)
        logger.info(
            "receipt %s for %s/%s: %s",
            receipt.receipt_id,
            receipt.pa_fiscal_code,
            receipt.notice_number,
            receipt.outcome,
        )
        return answer

    def _draw(self, fraction: float) -> bool:
        """Whether this call is hit by a fault of ``fraction`` (no draw when it is 0)."""
        return fraction > 0 and self._random.random() < fraction

    def _reseed(self, seed: int | None) -> None:
        self.seed = seed
        self._random = random.Random(seed)

    # ---------------------------------------------------------------- the control API
    def status(self) -> dict[str, Any]:
        return {
            "behaviour": {**self.behaviour.to_json(), "seed": self.seed},
            "listening": self.listening,
            "port": self.port,
            "soapUrl": f"http://{self.host}:{self.port}{SOAP_PATH}",
            "baseUrl": f"http://{self.host}:{self.port}{BASE_PATH}",
            "counters": {**self.counters.to_json(), "holding": self.holding},
            "notices": len(self.book.positions),
            "receipts": len(self.book.receipts),
            "now": iso_utc(self.clock.now()),
        }

    async def _status(self, _: web.Request) -> web.Response:
        return web.json_response(self.status())

    async def _set_behaviour(self, request: web.Request) -> web.Response:
        try:
            change = BehaviourIn.model_validate_json(await request.read())
        except ValidationError as error:
            return _control_error(400, _describe(error))
        try:
            await self.configure(change)
        except OSError as error:
            return _control_error(409, f"cannot listen on port {self.port} again: {error}")
        return web.json_response(self.status())

    async def configure(self, change: BehaviourIn) -> None:
        """Apply what ``change`` sets; the rest stays as it is."""
        behaviour = self.behaviour
        if change.delay_ms is not None:
            behaviour.delay_ms = change.delay_ms
        if change.timeout_fraction is not None:
            behaviour.timeout_fraction = change.timeout_fraction
        if change.not_active_fraction is not None:
            behaviour.not_active_fraction = change.not_active_fraction
        if change.seed is not None:
            self._reseed(change.seed)
        if change.state == "down":
            await self.unlisten()
        elif change.state == "up":
            await self.listen()
        logger.info("behaviour: %s", behaviour.to_json())

    async def _put_notices(self, request: web.Request) -> web.Response:
        try:
            notices = _NOTICES.validate_json(await request.read())
        except ValidationError as error:
            return _control_error(400, _describe(error))
        count = self.book.put(item.notice() for item in notices)
        return web.json_response({"put": count, "notices": len(self.book.positions)})

    async def _show_notice(self, request: web.Request) -> web.Response:
        try:
            shown = self.book.show(
                request.match_info["paFiscalCode"],
                request.match_info["noticeNumber"],
                self.clock.now(),
            )
        except KeyError:
            return _control_error(404, "unknown notice")
        return web.json_response(shown)

    async def _receipts(self, _: web.Request) -> web.Response:
        stored = self.book.receipts
        return web.json_response(
            {
                "receipts": [receipt.to_json() for receipt in stored.values()],
                "deliveries": {
                    receipt_id: receipt.deliveries for receipt_id, receipt in stored.items()
                },
                "total": sum(receipt.deliveries for receipt in stored.values()),
            }
        )

    async def _reset(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            options = ResetIn.model_validate_json(raw or b"{}")
        except ValidationError as error:
            return _control_error(400, _describe(error))
        try:
            await self.reset(notices=options.notices)
        except OSError as error:
            return _control_error(409, f"cannot listen on port {self.port} again: {error}")
        return web.json_response(self.status())

    async def reset(self, *, notices: bool = False) -> None:
        """Up, no faults, zero counters, no receipts, nothing paid or in progress, the first
        seed again; with ``notices``, the notices it started with (and only them)."""
        await self.listen()
        self.behaviour = Behaviour()
        self.counters = Counters()
        self._reseed(self.seed_at_start)
        if notices:
            self.book = Book()
            self.book.put(self.initial_notices)
        else:
            self.book.forget_payments()


def _soap_operation(raw: bytes) -> str | None:
    """The counter a SOAP call counts in (None when it names no paForNode primitive)."""
    try:
        return OPERATION_OF.get(soap.parse(raw).name)
    except soap.NotAnEnvelope:
        return None


def _ko(fault_code: str, description: str) -> dict[str, Any]:
    return {"outcome": "KO", "faultCode": fault_code, "description": description}


def _describe(error: ValidationError) -> str:
    """The first problems of a body, one line (``amount: Input should be a valid integer``)."""
    problems = []
    for detail in error.errors(include_url=False)[:5]:
        where = ".".join(str(part) for part in detail["loc"]) or "body"
        problems.append(f"{where}: {detail['msg']}")
    return "; ".join(problems)


def _control_error(status: int, detail: str) -> web.Response:
    return web.json_response({"error": detail}, status=status)
