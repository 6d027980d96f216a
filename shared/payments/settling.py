"""A confirmed transaction carried to its end: the charge's answer, the outcome at the node,
the receipt, the instrument's usage and the push; or, when the charge fails, the notice freed.

Each step first writes the transaction's new state (ETag-conditioned: a step that loses the
race to a concurrent one stops and leaves the transaction to it), and every call it makes is
idempotent at the other end (a charge by its charge id, an outcome by its receipt id, a receipt
by its id), so :meth:`Settlement.resume` may run any step again after a crash: a transaction
is charged at most once and completes exactly once.

When the gateway does not answer a charge, the transaction stays ``AUTHORIZATION_REQUESTED``
until its state is known: the gateway is asked (now, and by the reconciler's timer later); a
charge it never took is voided first (a late arrival with that charge id is then refused), so
the transaction can end ``UNAUTHORIZED`` without ever being charged twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.payments.payment_ports import (
    Charge,
    ChargeGateway,
    Instruments,
    PaymentNode,
    ReceivedNotifier,
    TransactionStore,
)
from shared.payments.receipt_model import Person, Receipt, ReceiptSink
from shared.payments.transaction_store import from_document, to_document
from shared.payments.transactions import Status, Transaction, advance
from shared.platform.cosmos import Document, StaleDocument
from shared.platform.errors import DependencyError, DomainError, NotFound, UpstreamFailed

logger = logging.getLogger(__name__)

__all__ = ["RECEIPTS_PATH", "Settlement", "receipt_of"]

RECEIPTS_PATH = "/api/v1/payments/receipts/"
_NOT_TAKEN = ("DECLINED", "CANCELED", "REFUNDED")


def receipt_of(transaction: Transaction) -> Receipt:
    """The receipt of a closed transaction. The node's receipt id is the payment token."""
    assert transaction.paid_at is not None
    assert transaction.receipt_id is not None
    payer = Person(fiscal_code=transaction.payer_fiscal_code, user_id=transaction.user_id)
    return Receipt(
        receipt_id=transaction.receipt_id,
        transaction_id=transaction.transaction_id,
        payment_token=transaction.payment_token,
        notice_code=transaction.notice_code,
        ec_fiscal_code=transaction.ec_fiscal_code,
        ec_name=transaction.ec_name[:140],
        description=transaction.description[:140],
        amount=transaction.amount,
        fee=transaction.fee,
        psp_id=transaction.psp_id,
        psp_name=transaction.psp_name,
        method=transaction.method or "CARD",
        paid_at=transaction.paid_at,
        stand_in=transaction.stand_in,
        # A notice the archive does not hold names no debtor: the payer stands for them.
        debtor=transaction.debtor or payer,
        payer=payer,
    )


class Settlement:
    def __init__(
        self,
        *,
        store: TransactionStore,
        node: PaymentNode,
        gateway: ChargeGateway,
        wallet: Instruments,
        receipts: ReceiptSink,
        notifier: ReceivedNotifier,
        charge_psp_id: str,
        after_charge: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._node = node
        self._gateway = gateway
        self._wallet = wallet
        self._receipts = receipts
        self._notifier = notifier
        self._psp = charge_psp_id
        self._after_charge = after_charge
        """Called as soon as the gateway answered a charge: the dev host's crash test makes
        the process die there (never set in Azure)."""

    async def _move(
        self,
        transaction: Transaction,
        status: Status,
        *,
        now: datetime,
        reason: str | None = None,
        held: Document | None = None,
        **changes: Any,
    ) -> tuple[Transaction, Document] | None:
        """``transaction`` moved to ``status`` as stored, and the document written; None when
        another step moved it first (the stored one is not where ``transaction`` was).

        ``held``: the transaction's document as this process last wrote it, tried first (a
        read less per step); if it is stale, the stored one decides.
        """
        document = held
        if document is None or from_document(document).status != transaction.status:
            document = await self._store.get(transaction.user_id, transaction.transaction_id)
            if document is None:
                return None
        current = from_document(document)
        if current.status != transaction.status:
            return None
        moved = advance(current, status, now=now, reason=reason, **changes)
        try:
            written = await self._store.replace(to_document(moved, document))
        except StaleDocument:
            if held is None:
                return None
            return await self._move(transaction, status, now=now, reason=reason, **changes)
        return moved, written

    async def _latest(self, transaction: Transaction) -> Transaction:
        document = await self._store.get(transaction.user_id, transaction.transaction_id)
        return transaction if document is None else from_document(document)

    # ------------------------------------------------------------------ charge
    async def charge(
        self,
        transaction: Transaction,
        contract_id: str,
        *,
        now: datetime,
        held: Document | None = None,
    ) -> Transaction:
        """Charge ``transaction`` (``AUTHORIZATION_REQUESTED``) on ``contract_id``, then go on."""
        assert transaction.charge_id is not None
        result = await self._gateway.charge(
            psp_id=self._psp,
            charge_id=transaction.charge_id,
            contract_id=contract_id,
            amount=transaction.total,
            description=f"{transaction.ec_name}: {transaction.description}"[:140],
        )
        self._after_charge()
        return await self._charged(transaction, result, now=now, held=held)

    async def _charged(
        self,
        transaction: Transaction,
        result: Charge,
        *,
        now: datetime,
        held: Document | None = None,
    ) -> Transaction:
        assert transaction.charge_id is not None
        try:
            if result.status == "UNKNOWN":
                # A timeout says nothing: ask.
                result = await self._gateway.status(
                    psp_id=self._psp, charge_id=transaction.charge_id
                )
            if result.status == "NOT_FOUND":
                # Never taken: void the charge id, so a late arrival of the request is refused.
                result = await self._gateway.refund(
                    psp_id=self._psp, charge_id=transaction.charge_id
                )
        except DependencyError as error:
            logger.warning("charge of %s not known yet: %s", transaction.transaction_id, error)
            return transaction
        if result.status == "UNKNOWN":
            return transaction
        if result.status in _NOT_TAKEN:
            moved = await self._move(
                transaction,
                "UNAUTHORIZED",
                now=now,
                reason=result.reason or result.status,
                held=held,
            )
            if moved is None:
                return await self._latest(transaction)
            await self.release(moved[0], now=now)
            return moved[0]
        moved = await self._move(
            transaction,
            "AUTHORIZATION_COMPLETED",
            now=now,
            held=held,
            authorization_code=result.authorization_code,
            paid_at=now,
        )
        if moved is None:
            return await self._latest(transaction)
        return await self._close(moved[0], now=now, held=moved[1])

    # ------------------------------------------------------------------ outcome at the node
    async def _close(
        self, transaction: Transaction, *, now: datetime, held: Document | None = None
    ) -> Transaction:
        assert transaction.paid_at is not None
        try:
            await self._node.outcome(
                transaction.payment_token,
                ok=True,
                receipt_id=transaction.payment_token,
                paid_at=transaction.paid_at,
                fee=transaction.fee,
                now=now,
                payer_fiscal_code=transaction.payer_fiscal_code,
            )
        except (DependencyError, UpstreamFailed) as error:
            logger.warning("outcome of %s not sent yet: %s", transaction.transaction_id, error)
            return transaction
        except DomainError as error:
            # The node will not take it (the token was replaced after expiring, the notice was
            # paid otherwise): the citizen gets the money back.
            moved = await self._move(
                transaction,
                "REFUND_REQUESTED",
                now=now,
                reason=f"outcome refused: {error.detail}",
                held=held,
            )
            if moved is None:
                return await self._latest(transaction)
            return await self._refund(moved[0], now=now, held=moved[1])
        moved = await self._move(
            transaction, "CLOSED", now=now, held=held, receipt_id=transaction.payment_token
        )
        if moved is None:
            return await self._latest(transaction)
        return await self._notify(moved[0], now=now, held=moved[1])

    async def _notify(
        self, transaction: Transaction, *, now: datetime, held: Document | None = None
    ) -> Transaction:
        receipt = receipt_of(transaction)
        await self._receipts.record(receipt)
        if transaction.wallet_id is not None:
            try:
                await self._wallet.record_usage(transaction.wallet_id, now=now)
            except NotFound:
                logger.info("instrument of %s deleted since", transaction.transaction_id)
        await self._notifier.payment_received(
            receipt, receipt_url=f"{RECEIPTS_PATH}{receipt.receipt_id}"
        )
        moved = await self._move(transaction, "NOTIFIED_OK", now=now, held=held)
        return moved[0] if moved is not None else await self._latest(transaction)

    async def _refund(
        self, transaction: Transaction, *, now: datetime, held: Document | None = None
    ) -> Transaction:
        assert transaction.charge_id is not None
        try:
            result = await self._gateway.refund(psp_id=self._psp, charge_id=transaction.charge_id)
        except DependencyError as error:
            logger.warning("refund of %s not done yet: %s", transaction.transaction_id, error)
            return transaction
        if result.status not in ("REFUNDED", "CANCELED"):
            logger.warning(
                "refund of %s: gateway says %s", transaction.transaction_id, result.status
            )
            return transaction
        moved = await self._move(transaction, "REFUNDED", now=now, held=held)
        return moved[0] if moved is not None else await self._latest(transaction)

    # ------------------------------------------------------------------ the notice freed
    async def release(self, transaction: Transaction, *, now: datetime) -> None:
        """Free the notice at the node (a KO outcome) so it can be paid again at once; if the
        node cannot be told, the token's expiry frees it."""
        try:
            await self._node.outcome(
                transaction.payment_token,
                ok=False,
                receipt_id=f"ko-{transaction.transaction_id}",
                paid_at=now,
                fee=0,
                now=now,
            )
        except (DependencyError, DomainError) as error:
            logger.info("notice of %s not released: %s", transaction.transaction_id, error)

    # ------------------------------------------------------------------ after a crash
    async def resume(self, transaction: Transaction, *, now: datetime) -> Transaction:
        """Carry a transaction in flight one step nearer its end, from where it is."""
        if transaction.status == "AUTHORIZATION_REQUESTED":
            return await self._charged(transaction, Charge("UNKNOWN"), now=now)
        if transaction.status == "AUTHORIZATION_COMPLETED":
            return await self._close(transaction, now=now)
        if transaction.status == "CLOSED":
            return await self._notify(transaction, now=now)
        if transaction.status == "REFUND_REQUESTED":
            return await self._refund(transaction, now=now)
        return transaction
