"""A citizen pays a notice: the transaction's use cases on their ports.

1. :meth:`Payments.create`: verify and activate the notice through the node as the app's own
   PSP (the EC's station in normal mode, the archive in stand-in): the transaction is
   ``ACTIVATED`` with the amount, the EC, the fee and the token's expiry.
2. :meth:`Payments.authorize`: the citizen confirms with a wallet instrument and a key. The
   confirmation is written first (``AUTHORIZATION_REQUESTED``, the charge id fixed), then the
   instrument's contract is charged at the PSP's gateway, idempotently by that charge id; the
   same key again returns the transaction as it is (a double tap pays once).
3. :class:`~shared.payments.settling.Settlement` takes it from there (outcome at the node,
   receipt, usage, push) and, from a timer, finishes whatever a crash or a timeout left halfway.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.payments.codes import parse_scanned
from shared.payments.fees import Fees
from shared.payments.payment_ports import Debtors, Instruments, PaymentNode, TransactionStore
from shared.payments.settling import Settlement
from shared.payments.transaction_models import AuthRequestIn, NewTransactionIn
from shared.payments.transaction_store import from_document, to_document
from shared.payments.transactions import (
    IN_FLIGHT,
    TRANSACTION_ID,
    Transaction,
    advance,
    expired,
)
from shared.platform.cosmos import Document, StaleDocument
from shared.platform.errors import Conflict, DependencyError, Gone, NotFound
from shared.platform.retry import retry_on_stale

logger = logging.getLogger(__name__)

__all__ = ["OTHER_CONFIRMATION", "TOKEN_EXPIRED", "PaymentPolicy", "Payments"]

TOKEN_EXPIRED = "TOKEN_EXPIRED"
OTHER_CONFIRMATION = "OTHER_CONFIRMATION"


@dataclass(frozen=True)
class PaymentPolicy:
    node_psp_id: str
    """The app's own PSP party at the node (``PAYMENTS_PSP_ID``)."""
    charge_psp_id: str
    """The PSP whose gateway holds the instruments' contracts (the wallet's PSP)."""
    stuck_after: timedelta = timedelta(minutes=2)
    """A transaction in flight untouched this long is the reconciler's."""


def _method(brand: str | None, last_four: str | None) -> str:
    shown = (brand or "CARD").upper()
    return f"{shown} ···· {last_four}" if last_four else shown


class Payments:
    def __init__(
        self,
        *,
        store: TransactionStore,
        node: PaymentNode,
        wallet: Instruments,
        debtors: Debtors,
        settlement: Settlement,
        fees: Fees,
        policy: PaymentPolicy,
    ) -> None:
        self._store = store
        self._node = node
        self._wallet = wallet
        self._debtors = debtors
        self._settlement = settlement
        self._fees = fees
        self._policy = policy

    # ------------------------------------------------------------------ create
    async def create(
        self, user_id: str, fiscal_code: str, request: NewTransactionIn, *, now: datetime
    ) -> Transaction:
        """Verify and activate the notice; the transaction ``ACTIVATED``.

        Raises:
            Invalid: a scanned code that is not a notice (400/422, naming the part).
            NotFound, Conflict, Gone, UpstreamFailed: the node's answer (unknown notice,
                already paid or being paid, expired, the EC's station failing).
        """
        if request.scanned is not None:
            scanned = parse_scanned(request.scanned)
            ec, notice = scanned.ec_fiscal_code, scanned.notice_code
        else:
            assert request.ec_fiscal_code is not None
            assert request.notice_code is not None
            ec, notice = request.ec_fiscal_code, request.notice_code
        fee = self._fees.of(self._policy.node_psp_id)
        found = await self._node.verify(ec, notice, now=now)
        debtor = await self._debtors.debtor(ec, notice, now=now)
        transaction_id = uuid.uuid4().hex
        activation = await self._node.activate(
            ec, notice, amount=found.amount, idempotency_key=transaction_id, now=now
        )
        transaction = Transaction(
            transaction_id=transaction_id,
            user_id=user_id,
            payer_fiscal_code=fiscal_code,
            status="ACTIVATED",
            notice_code=notice,
            ec_fiscal_code=ec,
            ec_name=activation.company_name,
            description=activation.description,
            amount=activation.amount,
            fee=fee,
            psp_id=self._policy.node_psp_id,
            psp_name=(await self._node.psp_name())[:140],
            payment_token=activation.payment_token,
            expires_at=activation.expires_at,
            stand_in=activation.stand_in,
            created_at=now,
            updated_at=now,
            debtor=debtor,
        )
        await self._store.create(to_document(transaction))
        logger.info("transaction %s activated (stand-in %s)", transaction_id, activation.stand_in)
        return transaction

    # ------------------------------------------------------------------ read
    async def _load(self, user_id: str, transaction_id: str) -> tuple[Transaction, Document]:
        # Checked before any read: an id this service never gives is simply not found.
        found = (
            await self._store.get(user_id, transaction_id)
            if re.fullmatch(TRANSACTION_ID, transaction_id)
            else None
        )
        if found is None:
            raise NotFound(f"no transaction {transaction_id[:64]}")
        return from_document(found), found

    async def get(self, user_id: str, transaction_id: str, *, now: datetime) -> Transaction:
        transaction, _ = await self._load(user_id, transaction_id)
        return transaction

    # ------------------------------------------------------------------ authorize
    async def authorize(
        self, user_id: str, transaction_id: str, request: AuthRequestIn, *, now: datetime
    ) -> Transaction:
        """Pay with ``request.wallet_id``; the same key again returns the transaction as is.

        Raises:
            NotFound: not the caller's transaction, or not the caller's instrument.
            Conflict: another confirmation was made (OTHER_CONFIRMATION), the transaction is
                over, or the instrument cannot pay (not validated, not enabled for pagoPA).
            Gone: the payment token expired first (TOKEN_EXPIRED): nothing is charged.
        """
        instrument: tuple[str, str] | None = None  # (contract id, method) once checked

        async def confirm() -> tuple[Transaction, Document | None]:
            """The transaction confirmed by this request and its document as written, or as
            another attempt of the same confirmation left it (None)."""
            nonlocal instrument
            transaction, document = await self._load(user_id, transaction_id)
            if transaction.auth_key is not None:
                if transaction.auth_key != request.idempotency_key:
                    raise Conflict(
                        "the transaction was confirmed already, with another key",
                        code=OTHER_CONFIRMATION,
                    )
                return transaction, None
            if transaction.status != "ACTIVATED":
                raise Conflict(f"the transaction is {transaction.status}", code="TRANSACTION_STATE")
            if expired(transaction, now):
                lapsed = advance(
                    transaction, "EXPIRED_NOT_AUTHORIZED", now=now, reason="token expired"
                )
                await self._store.replace(to_document(lapsed, document))
                raise Gone(
                    "the payment token expired before the payment was confirmed: nothing was "
                    "charged; start a new payment",
                    code=TOKEN_EXPIRED,
                )
            if instrument is None:
                # The caller's own instrument first (NotFound otherwise), then what pays.
                shown = await self._wallet.get(user_id, request.wallet_id, now=now)
                auth = await self._wallet.auth_data(request.wallet_id, now=now)
                details = shown.details
                last_four = details.last_four_digits if details else None
                instrument = (auth.contract_id, _method(auth.brand, last_four))
            confirmed = advance(
                transaction,
                "AUTHORIZATION_REQUESTED",
                now=now,
                wallet_id=request.wallet_id,
                auth_key=request.idempotency_key,
                method=instrument[1],
                charge_id=transaction.transaction_id,
            )
            return confirmed, await self._store.replace(to_document(confirmed, document))

        transaction, written = await retry_on_stale(
            confirm, conflict=DependencyError("cosmos", "transaction kept changing", retry_after=1)
        )
        if written is None:
            return transaction
        assert instrument is not None
        return await self._settlement.charge(transaction, instrument[0], now=now, held=written)

    # ------------------------------------------------------------------ cancel
    async def cancel(self, user_id: str, transaction_id: str, *, now: datetime) -> Transaction:
        """Give up a transaction not yet confirmed: its notice is free again at once."""

        async def step() -> Transaction:
            transaction, document = await self._load(user_id, transaction_id)
            if transaction.status == "CANCELED":
                return transaction
            canceled = advance(transaction, "CANCELED", now=now, reason="canceled by the citizen")
            await self._store.replace(to_document(canceled, document))
            return canceled

        canceled = await retry_on_stale(
            step, conflict=DependencyError("cosmos", "transaction kept changing", retry_after=1)
        )
        await self._settlement.release(canceled, now=now)
        return canceled

    # ------------------------------------------------------------------ reconcile
    async def reconcile(self, *, now: datetime, limit: int = 100) -> int:
        """Drive transactions a crash or a timeout left in flight to a final state from the
        gateway's state; how many were looked at."""
        stuck = await self._store.stuck(
            sorted(IN_FLIGHT), before=now - self._policy.stuck_after, limit=limit
        )
        for document in stuck:
            transaction = from_document(document)
            try:
                await self._settlement.resume(transaction, now=now)
            except (DependencyError, StaleDocument) as error:
                # Left in flight: the next run tries again.
                logger.warning(
                    "transaction %s not reconciled yet: %s", transaction.transaction_id, error
                )
        return len(stuck)
