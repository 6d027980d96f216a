"""The PSP's gateway as payments use it: charges on an instrument's recurring contract (the
one the wallet opened when the card was onboarded), their state, and refunds.

Over HTTP on the process's one keep-alive session to the gateway (``clients.session("psp")``,
shared with the wallet's onboarding calls), each request signed with the PSP's secret
(``x-signature``, as the wallet's)::

    POST /contracts/{contractId}/charges {chargeId, amount, description}
        -> {chargeId, status: AUTHORIZED | DECLINED | CANCELED, authorizationCode?, reason?}
    GET  /charges/{chargeId}          -> {chargeId, status, ...}; 404: never taken
    POST /charges/{chargeId}/refund   -> {chargeId, status: REFUNDED | CANCELED}

A charge is idempotent by its id. A charge the gateway does not answer (timeout, reset, 5xx)
is ``UNKNOWN``: the caller asks its state later rather than charging again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import get_args
from urllib.parse import quote

import aiohttp

from shared.auth.signature import HEADER, sign
from shared.payments.payment_ports import Charge, ChargeStatus
from shared.platform.clock import Clock
from shared.platform.errors import DependencyError
from shared.wallet.psp import PspSecrets

logger = logging.getLogger(__name__)

__all__ = ["HttpChargeGateway"]

_MAX_ANSWER = 16 * 1024
_STATUSES = set(get_args(ChargeStatus))


class HttpChargeGateway:
    def __init__(
        self,
        session: Callable[[], aiohttp.ClientSession],
        *,
        base_url: str,
        secrets: PspSecrets,
        clock: Clock,
        timeout: float,
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._secrets = secrets
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def _call(
        self, psp_id: str, method: str, path: str, payload: dict[str, object] | None
    ) -> tuple[int, bytes]:
        body = b"" if payload is None else json.dumps(payload).encode()
        secret = await self._secrets.secret_of(psp_id)
        headers = {HEADER: sign(secret, body, int(self._clock.now().timestamp()))}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        async with self._session().request(
            method, f"{self._base}{path}", data=body or None, headers=headers, timeout=self._timeout
        ) as answer:
            return answer.status, await answer.content.read(_MAX_ANSWER + 1)

    async def charge(
        self, *, psp_id: str, charge_id: str, contract_id: str, amount: int, description: str
    ) -> Charge:
        payload: dict[str, object] = {
            "chargeId": charge_id,
            "amount": amount,
            "description": description,
        }
        try:
            status, raw = await self._call(
                psp_id, "POST", f"/contracts/{quote(contract_id, safe='')}/charges", payload
            )
        except (aiohttp.ClientError, TimeoutError) as error:
            logger.warning(
                "charge %s: gateway did not answer (%s)", charge_id, type(error).__name__
            )
            return Charge("UNKNOWN", reason=type(error).__name__)
        if status >= 500 or status in (408, 429):
            return Charge("UNKNOWN", reason=f"HTTP {status}")
        if status in (404, 409, 422):
            # An unknown or closed contract: the gateway took nothing.
            return Charge("DECLINED", reason=f"contract refused (HTTP {status})")
        try:
            return _parse(status, raw)
        except DependencyError as error:
            return Charge("UNKNOWN", reason=str(error))

    async def status(self, *, psp_id: str, charge_id: str) -> Charge:
        status, raw = await self._asked(psp_id, "GET", f"/charges/{quote(charge_id, safe='')}")
        if status == 404:
            return Charge("NOT_FOUND")
        return _parse(status, raw)

    async def refund(self, *, psp_id: str, charge_id: str) -> Charge:
        status, raw = await self._asked(
            psp_id, "POST", f"/charges/{quote(charge_id, safe='')}/refund", {}
        )
        return _parse(status, raw)

    async def _asked(
        self, psp_id: str, method: str, path: str, payload: dict[str, object] | None = None
    ) -> tuple[int, bytes]:
        try:
            status, raw = await self._call(psp_id, method, path, payload)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise DependencyError("psp", f"unreachable ({type(error).__name__})") from error
        if status >= 500 or status in (408, 429):
            raise DependencyError("psp", f"HTTP {status}", retry_after=5.0)
        return status, raw


def _parse(status: int, raw: bytes) -> Charge:
    if status != 200 or len(raw) > _MAX_ANSWER:
        raise DependencyError("psp", f"unusable charge answer (HTTP {status})")
    try:
        answer = json.loads(raw)
    except ValueError:
        raise DependencyError("psp", "unreadable charge answer") from None
    if not isinstance(answer, dict) or answer.get("status") not in _STATUSES:
        raise DependencyError("psp", "unusable charge answer")
    code = answer.get("authorizationCode")
    reason = answer.get("reason")
    return Charge(
        answer["status"],
        authorization_code=code if isinstance(code, str) and len(code) <= 64 else None,
        reason=reason[:200] if isinstance(reason, str) else None,
    )
