"""The EC's books: its notices, the payment token live on each, and the receipts it received.

No HTTP here: each operation takes the time (the dev clock's) and either returns what the
station answers or raises :class:`Refusal` with the status and fault code it answers instead.

A notice is paid once an ``OK`` receipt for it arrives. A payment token is live from its
activation until its ``expiresAt`` passes or a receipt for the notice arrives (a ``KO`` receipt
frees the notice without paying it). Receipts are kept per ``receiptId`` with the number of
times each was delivered, duplicates included.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from local.ecsim.models import ActivateIn, FaultCode, Notice, ReceiptIn, VerifyIn, iso_utc


class Refusal(Exception):
    """What the station answers instead of OK: ``{"outcome": "KO", "faultCode", ...}``."""

    def __init__(self, status: int, fault_code: FaultCode, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.fault_code: FaultCode = fault_code
        self.description = description

    def to_json(self) -> dict[str, Any]:
        return {"outcome": "KO", "faultCode": self.fault_code, "description": self.description}


@dataclass
class Activation:
    """The payment token a PSP activated a notice with."""

    payment_token: str
    expires_at: datetime
    psp_id: str
    idempotency_key: str

    def to_json(self) -> dict[str, Any]:
        return {
            "paymentToken": self.payment_token,
            "expiresAt": iso_utc(self.expires_at),
            "pspId": self.psp_id,
            "idempotencyKey": self.idempotency_key,
        }


@dataclass
class Position:
    """A notice and what happened to it."""

    notice: Notice
    paid_by: str | None = None  # the receiptId that paid it
    activation: Activation | None = None

    def live_token(self, now: datetime) -> Activation | None:
        activation = self.activation
        if activation is None or activation.expires_at <= now:
            return None
        return activation


@dataclass
class StoredReceipt:
    """A receipt as first received, and how many times it was delivered."""

    body: dict[str, Any]
    received_at: datetime
    deliveries: int = 1
    known_notice: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            **self.body,
            "receivedAt": iso_utc(self.received_at),
            "deliveries": self.deliveries,
            "knownNotice": self.known_notice,
        }


@dataclass
class Book:
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)
    receipts: dict[str, StoredReceipt] = field(default_factory=dict)

    # ---------------------------------------------------------------- notices
    def put(self, notices: Iterable[Notice]) -> int:
        """Add or replace notices; a replaced one starts afresh (unpaid, no token)."""
        count = 0
        for notice in notices:
            self.positions[notice.key] = Position(notice)
            count += 1
        return count

    def show(self, pa_fiscal_code: str, notice_number: str, now: datetime) -> dict[str, Any]:
        """A notice with its paid state and live token (``KeyError`` when unknown)."""
        position = self.positions[(pa_fiscal_code, notice_number)]
        live = position.live_token(now)
        return {
            **position.notice.to_json(),
            "paid": position.paid_by is not None,
            "paidBy": position.paid_by,
            "liveToken": live.to_json() if live else None,
        }

    def forget_payments(self) -> None:
        """Every notice unpaid and without a token, and no receipt kept."""
        self.receipts.clear()
        for key, position in self.positions.items():
            self.positions[key] = Position(position.notice)

    # ---------------------------------------------------------------- the protocol
    def verify(self, request: VerifyIn, now: datetime) -> dict[str, Any]:
        position = self._payable(request, now)
        return {"outcome": "OK", **position.notice.to_json(), "status": "VALID"}

    def verify_notice(self, request: VerifyIn, now: datetime) -> Notice:
        """The payable notice (paVerifyPaymentNotice), or the Refusal verify gives."""
        return self._payable(request, now).notice

    def payment(self, request: VerifyIn, amount: int | None, now: datetime) -> Notice:
        """The payable notice of a paGetPaymentV2 (no token: the node holds it), its amount
        checked when the node names one."""
        notice = self._payable(request, now).notice
        if amount is not None and amount != notice.amount:
            raise Refusal(
                422, "PAA_SEMANTICA", f"the amount {amount} is not the notice's {notice.amount}"
            )
        return notice

    def activate(self, request: ActivateIn, now: datetime) -> dict[str, Any]:
        position = self._payable(request, now)
        notice = position.notice
        if request.amount != notice.amount:
            raise Refusal(
                422,
                "PAA_SEMANTICA",
                f"the amount {request.amount} is not the notice's {notice.amount}",
            )
        live = position.live_token(now)
        if live is not None and live.payment_token != request.payment_token:
            raise Refusal(
                409, "PAA_PAGAMENTO_IN_CORSO", "another payment of this notice is in progress"
            )
        position.activation = Activation(
            request.payment_token, request.expires_at, request.psp_id, request.idempotency_key
        )
        return {"outcome": "OK", **notice.to_json(), "paymentToken": request.payment_token}

    def receive(self, receipt: ReceiptIn, body: dict[str, Any], now: datetime) -> dict[str, Any]:
        """Store a receipt (``body`` as received); the notice, when known, is paid or freed."""
        stored = self.receipts.get(receipt.receipt_id)
        if stored is not None:
            stored.deliveries += 1
            raise Refusal(
                409,
                "PAA_RECEIPT_DUPLICATA",
                f"the receipt {receipt.receipt_id} was already received",
            )
        position = self.positions.get((receipt.pa_fiscal_code, receipt.notice_number))
        self.receipts[receipt.receipt_id] = StoredReceipt(
            body, now, known_notice=position is not None
        )
        if position is not None:
            position.activation = None
            if receipt.outcome == "OK" and position.paid_by is None:
                position.paid_by = receipt.receipt_id
        return {"outcome": "OK"}

    def _payable(self, request: VerifyIn, now: datetime) -> Position:
        position = self.positions.get((request.pa_fiscal_code, request.notice_number))
        if position is None:
            raise Refusal(
                404,
                "PAA_PAGAMENTO_SCONOSCIUTO",
                f"no notice {request.notice_number} of {request.pa_fiscal_code}",
            )
        if position.paid_by is not None:
            raise Refusal(409, "PAA_PAGAMENTO_DUPLICATO", "the notice is already paid")
        if now > position.notice.due_date:
            raise Refusal(
                410,
                "PAA_PAGAMENTO_SCADUTO",
                f"the notice was due by {iso_utc(position.notice.due_date)}",
            )
        return position
