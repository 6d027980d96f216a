"""In-memory fakes of the payment transactions' ports: the store (ETags included), the node,
the wallet, the PSP's charge gateway and the "payment received" notifier."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.payments.payment_ports import Charge, ChargeStatus
from shared.payments.receipt_model import Person, Receipt
from shared.platform.cosmos import Document, StaleDocument, body
from shared.platform.errors import Conflict, DependencyError, NotFound
from shared.standin.models import Activation, NoticeAnswer, OutcomeOut
from shared.wallet.models import Application, AuthCardData, AuthData, CardDetails, Instrument


class MemoryTransactionStore:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Document] = {}
        self.crash_on: tuple[str, BaseException] | None = None
        """(status, error): a write of that status raises the error instead (a dying process)."""

    def _written(self, document: Document) -> Document:
        stored = copy.deepcopy(body(document))
        stored["_etag"] = uuid.uuid4().hex
        self.items[(stored["pk"], stored["id"])] = stored
        return copy.deepcopy(stored)

    async def get(self, user_id: str, transaction_id: str) -> Document | None:
        found = self.items.get((f"tx:{user_id}", f"tx:{transaction_id}"))
        return copy.deepcopy(found) if found else None

    async def create(self, document: Document) -> Document:
        if (document["pk"], document["id"]) in self.items:
            raise StaleDocument(document["id"])
        return self._written(document)

    async def replace(self, document: Document) -> Document:
        if self.crash_on is not None and document["status"] == self.crash_on[0]:
            raise self.crash_on[1]
        current = self.items.get((document["pk"], document["id"]))
        if current is None or current["_etag"] != document.get("_etag"):
            raise StaleDocument(document["id"])
        return self._written(document)

    async def stuck(self, statuses: list[str], *, before: datetime, limit: int) -> list[Document]:
        found = [
            copy.deepcopy(d)
            for d in self.items.values()
            if d["status"] in statuses and d["updatedAt"] < before.isoformat()
        ]
        return found[:limit]

    def only(self) -> Document:
        (document,) = self.items.values()
        return document


@dataclass
class NodeNotice:
    amount: int = 12550
    description: str = "TARI 2026"
    company_name: str = "Comune di Prova"
    paid: bool = False
    token: str | None = None
    token_key: str | None = None
    expires_at: datetime | None = None
    outcomes: list[tuple[str, str, str]] = field(default_factory=list)
    """(token, OK/KO, receipt id) in the order the node took them."""


class FakeNode:
    """The node as the stand-in gateway behaves for one PSP: one live token per notice,
    outcomes idempotent by receipt id, a KO frees the notice."""

    def __init__(self, *, stand_in: bool = False, lifetime: timedelta = timedelta(minutes=30)):
        self.notices: dict[tuple[str, str], NodeNotice] = {}
        self.stand_in = stand_in
        self.lifetime = lifetime
        self.outcome_error: Exception | None = None

    async def psp_name(self) -> str:
        return "App PSP"

    def publish(self, ec: str, notice: str, **kwargs: object) -> NodeNotice:
        found = NodeNotice(**kwargs)  # type: ignore[arg-type]
        self.notices[(ec, notice)] = found
        return found

    def _notice(self, ec: str, notice: str) -> NodeNotice:
        found = self.notices.get((ec, notice))
        if found is None:
            raise NotFound("unknown notice", code="PPT_PAGAMENTO_SCONOSCIUTO")
        if found.paid:
            raise Conflict("already paid", code="PPT_PAGAMENTO_DUPLICATO")
        return found

    def _answer(self, ec: str, notice: str, found: NodeNotice) -> dict[str, object]:
        return {
            "paFiscalCode": ec,
            "noticeNumber": notice,
            "amount": found.amount,
            "dueDate": "2026-12-31T00:00:00+00:00",
            "description": found.description,
            "companyName": found.company_name,
            "status": "VALID",
            "standIn": self.stand_in,
        }

    async def verify(self, ec_fiscal_code: str, notice_code: str, *, now: datetime) -> NoticeAnswer:
        found = self._notice(ec_fiscal_code, notice_code)
        return NoticeAnswer.model_validate(self._answer(ec_fiscal_code, notice_code, found))

    async def activate(
        self,
        ec_fiscal_code: str,
        notice_code: str,
        *,
        amount: int,
        idempotency_key: str,
        now: datetime,
    ) -> Activation:
        found = self._notice(ec_fiscal_code, notice_code)
        live = found.token is not None and found.expires_at is not None and found.expires_at > now
        if live and found.token_key != idempotency_key:
            raise Conflict("being paid", code="PAYMENT_IN_PROGRESS")
        if not live:
            found.token = uuid.uuid4().hex[:35].ljust(35, "0")
            found.token_key = idempotency_key
            found.expires_at = now + self.lifetime
        return Activation.model_validate(
            {
                **self._answer(ec_fiscal_code, notice_code, found),
                "paymentToken": found.token,
                "expiresAt": found.expires_at,
                "idempotencyKey": idempotency_key,
                "pspId": "APPPSP",
            }
        )

    def by_token(self, payment_token: str) -> tuple[tuple[str, str], NodeNotice] | None:
        for key, found in self.notices.items():
            if found.token == payment_token or any(
                t == payment_token for t, _, _ in found.outcomes
            ):
                return key, found
        return None

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
        if self.outcome_error is not None:
            raise self.outcome_error
        located = self.by_token(payment_token)
        if located is None:
            raise NotFound("unknown token")
        (ec, notice), found = located
        outcome = "OK" if ok else "KO"
        repeated = (payment_token, outcome, receipt_id) in found.outcomes
        if not repeated:
            if found.token != payment_token:
                raise Conflict("token replaced", code="TOKEN_NOT_LIVE")
            found.outcomes.append((payment_token, outcome, receipt_id))
            if ok:
                found.paid = True
            found.token = None if not ok else found.token
            found.expires_at = None if not ok else found.expires_at
        return OutcomeOut.model_validate(
            {
                "receiptId": receipt_id,
                "paymentToken": payment_token,
                "outcome": outcome,
                "status": "PAID" if ok else "RELEASED",
                "paFiscalCode": ec,
                "noticeNumber": notice,
                "standIn": self.stand_in,
            }
        )

    def oks(self) -> int:
        return sum(1 for f in self.notices.values() for _, o, _ in f.outcomes if o == "OK")


class FakeDebtors:
    def __init__(self) -> None:
        self.known: dict[tuple[str, str], Person] = {}

    async def debtor(
        self, ec_fiscal_code: str, notice_code: str, *, now: datetime
    ) -> Person | None:
        return self.known.get((ec_fiscal_code, notice_code))


class FakeWallet:
    def __init__(self) -> None:
        self.owners: dict[str, str] = {}
        self.enabled: dict[str, bool] = {}
        self.usage: list[str] = []

    def add(self, user_id: str, wallet_id: str, *, pagopa: bool = True) -> None:
        self.owners[wallet_id] = user_id
        self.enabled[wallet_id] = pagopa

    async def get(self, user_id: str, wallet_id: str, *, now: datetime) -> Instrument:
        if self.owners.get(wallet_id) != user_id:
            raise NotFound(f"no instrument {wallet_id}")
        return Instrument(
            wallet_id=wallet_id,
            payment_method_id="cards",
            type="CARD",
            status="VALIDATED",
            applications=[Application(name="PAGOPA", status="ENABLED")],
            details=CardDetails(
                bin="424242", last_four_digits="4242", expiry_date="203012", brand="VISA"
            ),
            created_at=now,
            updated_at=now,
        )

    async def auth_data(self, wallet_id: str, *, now: datetime) -> AuthData:
        if wallet_id not in self.owners:
            raise NotFound(f"no instrument {wallet_id}")
        if not self.enabled[wallet_id]:
            raise Conflict("the instrument is not enabled for pagoPA payments")
        return AuthData(
            wallet_id=wallet_id,
            contract_id=f"C-{wallet_id}",
            brand="VISA",
            payment_method_data=AuthCardData(bin="424242"),
        )

    async def record_usage(self, wallet_id: str, *, now: datetime) -> None:
        self.usage.append(wallet_id)


class FakeChargeGateway:
    """Charges idempotent by id; ``answer`` decides the next new charge's fate; ``lose``:
    the gateway takes the charge but the answer is lost (a timeout)."""

    def __init__(self) -> None:
        self.charges: dict[str, ChargeStatus] = {}
        self.amounts: dict[str, int] = {}
        self.answer: ChargeStatus = "AUTHORIZED"
        self.lose = False
        self.never_arrives = False
        self.down = False
        self.requests = 0
        self.on_charge: Callable[[], None] = lambda: None
        """Runs while the gateway takes a charge (another writer acting meanwhile)."""

    async def charge(
        self, *, psp_id: str, charge_id: str, contract_id: str, amount: int, description: str
    ) -> Charge:
        self.requests += 1
        self.on_charge()
        if self.down or self.never_arrives:
            return Charge("UNKNOWN", reason="timeout")
        if charge_id not in self.charges:
            self.charges[charge_id] = self.answer
            self.amounts[charge_id] = amount
        if self.lose:
            return Charge("UNKNOWN", reason="timeout")
        status = self.charges[charge_id]
        return Charge(status, authorization_code="A1" if status == "AUTHORIZED" else None)

    async def status(self, *, psp_id: str, charge_id: str) -> Charge:
        if self.down:
            raise DependencyError("psp", "down")
        status = self.charges.get(charge_id)
        return Charge(status or "NOT_FOUND", authorization_code="A1")

    async def refund(self, *, psp_id: str, charge_id: str) -> Charge:
        if self.down:
            raise DependencyError("psp", "down")
        status = self.charges.get(charge_id)
        self.charges[charge_id] = "REFUNDED" if status == "AUTHORIZED" else "CANCELED"
        return Charge(self.charges[charge_id])

    def charged(self) -> int:
        """Cents the citizen is out of pocket now."""
        return sum(self.amounts[c] for c, s in self.charges.items() if s == "AUTHORIZED")


class FakeNotifier:
    def __init__(self) -> None:
        self.sent: list[tuple[Receipt, str]] = []

    async def payment_received(self, receipt: Receipt, *, receipt_url: str) -> None:
        self.sent.append((receipt, receipt_url))
