"""The ports a payment transaction works through: the node (verify, activate, outcome), the
citizen's wallet, the PSP gateway that charges the instrument's contract, the store, and whom
to tell when a payment completes. The composition root passes the real adapters; unit tests
pass fakes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from shared.payments.receipt_model import Person, Receipt
from shared.platform.cosmos import Document
from shared.standin.models import Activation, NoticeAnswer, OutcomeOut
from shared.wallet.models import AuthData, Instrument

__all__ = [
    "Charge",
    "ChargeGateway",
    "ChargeStatus",
    "Debtors",
    "Instruments",
    "PaymentNode",
    "ReceivedNotifier",
    "TransactionStore",
]

ChargeStatus = Literal["AUTHORIZED", "DECLINED", "UNKNOWN", "NOT_FOUND", "REFUNDED", "CANCELED"]
"""UNKNOWN: the gateway did not say (a timeout); NOT_FOUND: it never took the charge;
CANCELED: the charge id is void, a late request with it is refused."""


@dataclass(frozen=True)
class Charge:
    status: ChargeStatus
    authorization_code: str | None = None
    reason: str | None = None


class PaymentNode(Protocol):
    """pagoPA's node as the app's own PSP sees it (shared/payments/node.py wraps the gateway)."""

    async def psp_name(self) -> str:
        """The name of the PSP the app acts as (the receipt shows it)."""
        ...

    async def verify(
        self, ec_fiscal_code: str, notice_code: str, *, now: datetime
    ) -> NoticeAnswer: ...

    async def activate(
        self,
        ec_fiscal_code: str,
        notice_code: str,
        *,
        amount: int,
        idempotency_key: str,
        now: datetime,
    ) -> Activation: ...

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
    ) -> OutcomeOut: ...


class Debtors(Protocol):
    """Who owes a notice (shared/payments/debtors.py reads the archive); None: unknown."""

    async def debtor(
        self, ec_fiscal_code: str, notice_code: str, *, now: datetime
    ) -> Person | None: ...


class Instruments(Protocol):
    """The wallet's service (shared/wallet/service.py)."""

    async def get(self, user_id: str, wallet_id: str, *, now: datetime) -> Instrument: ...

    async def auth_data(self, wallet_id: str, *, now: datetime) -> AuthData: ...

    async def record_usage(self, wallet_id: str, *, now: datetime) -> None: ...


class ChargeGateway(Protocol):
    """The PSP's gateway: charges on an instrument's recurring contract, idempotent by
    ``charge_id`` (a repeated charge is answered with the first one's result)."""

    async def charge(
        self, *, psp_id: str, charge_id: str, contract_id: str, amount: int, description: str
    ) -> Charge:
        """Never raises for a gateway that did not answer: that is ``UNKNOWN``."""
        ...

    async def status(self, *, psp_id: str, charge_id: str) -> Charge:
        """Raises DependencyError when the gateway cannot be asked."""
        ...

    async def refund(self, *, psp_id: str, charge_id: str) -> Charge:
        """Give back an authorised charge, or void a charge id the gateway never took
        (``CANCELED``). Raises DependencyError when the gateway cannot be asked."""
        ...


class TransactionStore(Protocol):
    async def get(self, user_id: str, transaction_id: str) -> Document | None: ...

    async def create(self, document: Document) -> Document: ...

    async def replace(self, document: Document) -> Document:
        """StaleDocument unless unchanged since read (its ``_etag``)."""
        ...

    async def stuck(self, statuses: list[str], *, before: datetime, limit: int) -> list[Document]:
        """Transactions in ``statuses`` not updated since ``before`` (the reconciler's timer)."""
        ...


class ReceivedNotifier(Protocol):
    """Push's "payment received" (shared/payments/notify.py, wired by the composition root)."""

    async def payment_received(self, receipt: Receipt, *, receipt_url: str) -> None: ...
