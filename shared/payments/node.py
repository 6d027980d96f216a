"""The node, as the app's own PSP uses it: the in-process gateway of the stand-in capability
(shared/standin/gateway.py), called through its service as any PSP's request would be.

The gateway routes verify and activate to the EC's station in normal mode and answers them
from the notice archive in stand-in; an OK outcome records the receipt and queues its delivery
to the EC's station in both modes (shared/standin/receipts.py), and marks the archive's notice
PAID. The app acts as the PSP party ``PAYMENTS_PSP_ID`` of the party registry.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from shared.parties.models import Party
from shared.standin.models import (
    ActivateIn,
    Activation,
    NoticeAnswer,
    NoticeRef,
    OutcomeIn,
    OutcomeOut,
    OutcomePayer,
)

__all__ = ["PAYMENT_METHOD", "GatewayNode"]

PAYMENT_METHOD = "CP"
"""The node's code for a card payment."""


class NodeGateway(Protocol):
    async def verify(self, party: Party, notice: NoticeRef, *, now: datetime) -> NoticeAnswer: ...

    async def activate(
        self,
        party: Party,
        request: ActivateIn,
        *,
        now: datetime,
        lifetime: timedelta | None = None,
    ) -> Activation: ...

    async def outcome(self, party: Party, request: OutcomeIn, *, now: datetime) -> OutcomeOut: ...


class PartyLookup(Protocol):
    async def get(self, party_id: str) -> Party: ...


class GatewayNode:
    def __init__(self, gateway: NodeGateway, parties: PartyLookup, psp_id: str) -> None:
        self._gateway = gateway
        self._parties = parties
        self._psp_id = psp_id

    async def _party(self) -> Party:
        # The registry caches parties; NotFound here means PAYMENTS_PSP_ID is not seeded.
        return await self._parties.get(self._psp_id)

    async def psp_name(self) -> str:
        return (await self._party()).name

    async def verify(self, ec_fiscal_code: str, notice_code: str, *, now: datetime) -> NoticeAnswer:
        notice = NoticeRef(pa_fiscal_code=ec_fiscal_code, notice_number=notice_code)
        return await self._gateway.verify(await self._party(), notice, now=now)

    async def activate(
        self,
        ec_fiscal_code: str,
        notice_code: str,
        *,
        amount: int,
        idempotency_key: str,
        now: datetime,
    ) -> Activation:
        request = ActivateIn(
            pa_fiscal_code=ec_fiscal_code,
            notice_number=notice_code,
            amount=amount,
            idempotency_key=idempotency_key,
            psp_id=self._psp_id,
        )
        return await self._gateway.activate(await self._party(), request, now=now)

    async def outcome(
        self,
        payment_token: str,
        *,
        ok: bool,
        receipt_id: str,
        paid_at: datetime,
        fee: int,
        now: datetime,
        payer_fiscal_code: str | None = None,
    ) -> OutcomeOut:
        payer = OutcomePayer(fiscal_code=payer_fiscal_code) if payer_fiscal_code else None
        request = OutcomeIn(
            payment_token=payment_token,
            outcome="OK" if ok else "KO",
            psp_id=self._psp_id,
            receipt_id=receipt_id,
            payment_date_time=paid_at,
            payment_method=PAYMENT_METHOD,
            fee=fee,
            payer=payer,
        )
        return await self._gateway.outcome(await self._party(), request, now=now)
