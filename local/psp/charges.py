"""The simulator's charges on recurring contracts: what payments ask of the gateway.

A contract exists once its card's onboarding ended ``EXECUTED`` (the wallet named the contract
when it built the order). The API (signed like the wallet's, ``x-signature``)::

    POST /contracts/{contractId}/charges {chargeId, amount, description}
        -> 200 {chargeId, status: AUTHORIZED | DECLINED | CANCELED, authorizationCode?, reason?}
           404 unknown contract; the same chargeId again answers the first result
    GET  /charges/{chargeId}          -> 200 {...} or 404 (never taken)
    POST /charges/{chargeId}/refund   -> 200 {status: REFUNDED} (or CANCELED for a charge id
                                         never taken: it is void, a later charge with it is refused)

For tests: ``POST /test/charges/behaviour {next?: AUTHORIZED|DECLINED, delaySeconds?,
loseAnswer?}`` (how the next charges go: declined, slow past the client's timeout, or taken
with the answer lost), ``GET /test/charges`` (every charge, and the cents held).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from local.devclock import DevClock
from shared.auth.signature import HEADER, verify_signature
from shared.platform.errors import Unauthorized

__all__ = ["Charges"]


@dataclass
class Behaviour:
    next: str = "AUTHORIZED"
    delay_seconds: float = 0.0
    lose_answer: bool = False


@dataclass
class ChargeRecord:
    charge_id: str
    contract_id: str
    amount: int
    status: str
    authorization_code: str | None = None
    reason: str | None = None
    requests: int = 0

    def public(self) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "chargeId": self.charge_id,
            "contractId": self.contract_id,
            "amount": self.amount,
            "status": self.status,
            "requests": self.requests,
        }
        if self.authorization_code:
            shown["authorizationCode"] = self.authorization_code
        if self.reason:
            shown["reason"] = self.reason
        return shown


@dataclass
class Charges:
    clock: DevClock
    secret: str
    contracts: dict[str, str] = field(default_factory=dict)
    """contract id -> the card's gateway id."""
    charges: dict[str, ChargeRecord] = field(default_factory=dict)
    behaviour: Behaviour = field(default_factory=Behaviour)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/contracts/{contractId}/charges", self.charge)
        app.router.add_get("/charges/{chargeId}", self.status)
        app.router.add_post("/charges/{chargeId}/refund", self.refund)
        app.router.add_post("/test/charges/behaviour", self.set_behaviour)
        app.router.add_get("/test/charges", self.show)

    def open_contract(self, contract_id: str, gateway_id: str) -> None:
        self.contracts[contract_id] = gateway_id

    async def _signed(self, request: web.Request) -> bytes:
        raw = await request.read()
        verify_signature(request.headers.get(HEADER), raw, self.secret, now=self.clock.now())
        return raw

    async def charge(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await self._signed(request))
            charge_id, amount = str(body["chargeId"]), body["amount"]
            if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
                raise ValueError("amount")
        except Unauthorized as error:
            return _problem(401, error.detail)
        except (ValueError, KeyError, TypeError):
            return _problem(400, "expected {chargeId, amount (cents), description}")
        contract_id = request.match_info["contractId"]
        if contract_id not in self.contracts:
            return _problem(404, "unknown contract")
        behaviour = self.behaviour
        if behaviour.delay_seconds:
            await asyncio.sleep(behaviour.delay_seconds)
        record = self.charges.get(charge_id)
        if record is None:
            authorized = behaviour.next == "AUTHORIZED"
            record = ChargeRecord(
                charge_id,
                contract_id,
                amount,
                "AUTHORIZED" if authorized else "DECLINED",
                authorization_code=uuid.uuid4().hex[:6].upper() if authorized else None,
                reason=None if authorized else "insufficient funds",
            )
            self.charges[charge_id] = record
        record.requests += 1
        if behaviour.lose_answer:
            raise web.HTTPServiceUnavailable(text="answer lost")
        return web.json_response(record.public())

    async def status(self, request: web.Request) -> web.Response:
        try:
            await self._signed(request)
        except Unauthorized as error:
            return _problem(401, error.detail)
        record = self.charges.get(request.match_info["chargeId"])
        if record is None:
            return _problem(404, "no such charge")
        return web.json_response(record.public())

    async def refund(self, request: web.Request) -> web.Response:
        try:
            await self._signed(request)
        except Unauthorized as error:
            return _problem(401, error.detail)
        charge_id = request.match_info["chargeId"]
        record = self.charges.get(charge_id)
        if record is None:
            record = ChargeRecord(charge_id, "", 0, "CANCELED", reason="voided before it arrived")
            self.charges[charge_id] = record
        elif record.status == "AUTHORIZED":
            record.status = "REFUNDED"
        return web.json_response(record.public())

    async def set_behaviour(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            self.behaviour = Behaviour(
                next=str(body.get("next", "AUTHORIZED")),
                delay_seconds=float(body.get("delaySeconds", 0)),
                lose_answer=bool(body.get("loseAnswer", False)),
            )
        except (ValueError, TypeError, AttributeError):
            return _problem(400, "expected {next?, delaySeconds?, loseAnswer?}")
        if self.behaviour.next not in ("AUTHORIZED", "DECLINED"):
            return _problem(400, "next must be AUTHORIZED or DECLINED")
        return web.json_response({"ok": True})

    async def show(self, request: web.Request) -> web.Response:
        held = sum(r.amount for r in self.charges.values() if r.status == "AUTHORIZED")
        return web.json_response(
            {"charges": [r.public() for r in self.charges.values()], "heldCents": held}
        )


def _problem(status: int, detail: str) -> web.Response:
    return web.json_response(
        {"status": status, "detail": detail}, status=status, content_type="application/problem+json"
    )
