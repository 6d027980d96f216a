"""A citizen's payment transaction and its state machine (pure: no I/O).

The states are those of pagoPA's ecommerce transactions service (its OpenAPI's
``TransactionStatus``; docs/payments.md records the source), the subset this journey crosses::

    ACTIVATED --confirmed--> AUTHORIZATION_REQUESTED --charged--> AUTHORIZATION_COMPLETED
    ACTIVATED --token expired first--> EXPIRED_NOT_AUTHORIZED
    ACTIVATED --citizen cancels--> CANCELED
    AUTHORIZATION_REQUESTED --declined, or never taken (voided)--> UNAUTHORIZED
    AUTHORIZATION_REQUESTED (no answer: stays until the gateway's state is known)
    AUTHORIZATION_COMPLETED --the node took the outcome--> CLOSED --receipt, push--> NOTIFIED_OK
    AUTHORIZATION_COMPLETED --the node refused it--> REFUND_REQUESTED --refunded--> REFUNDED

Every change goes through :func:`advance`, which refuses a transition the machine does not
have (Conflict), so a retried or concurrent step can never move a transaction backwards.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.payments.receipt_model import Person
from shared.platform.errors import Conflict

__all__ = [
    "FINAL",
    "IN_FLIGHT",
    "TRANSITIONS",
    "Status",
    "Transaction",
    "advance",
    "expired",
]

Status = Literal[
    "ACTIVATED",
    "AUTHORIZATION_REQUESTED",
    "AUTHORIZATION_COMPLETED",
    "CLOSED",
    "NOTIFIED_OK",
    "UNAUTHORIZED",
    "EXPIRED_NOT_AUTHORIZED",
    "CANCELED",
    "REFUND_REQUESTED",
    "REFUNDED",
]

TRANSITIONS: dict[str, frozenset[str]] = {
    "ACTIVATED": frozenset({"AUTHORIZATION_REQUESTED", "EXPIRED_NOT_AUTHORIZED", "CANCELED"}),
    "AUTHORIZATION_REQUESTED": frozenset({"AUTHORIZATION_COMPLETED", "UNAUTHORIZED"}),
    "AUTHORIZATION_COMPLETED": frozenset({"CLOSED", "REFUND_REQUESTED"}),
    "CLOSED": frozenset({"NOTIFIED_OK"}),
    "REFUND_REQUESTED": frozenset({"REFUNDED"}),
    "NOTIFIED_OK": frozenset(),
    "UNAUTHORIZED": frozenset(),
    "EXPIRED_NOT_AUTHORIZED": frozenset(),
    "CANCELED": frozenset(),
    "REFUNDED": frozenset(),
}

FINAL = frozenset(s for s, nexts in TRANSITIONS.items() if not nexts)
IN_FLIGHT = frozenset(
    {"AUTHORIZATION_REQUESTED", "AUTHORIZATION_COMPLETED", "CLOSED", "REFUND_REQUESTED"}
)
"""Where a crash can leave a transaction: the reconciler drives these to a final state."""

TRANSACTION_ID = r"^[0-9a-f]{32}$"


class Step(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    status: Status
    at: datetime
    reason: str | None = None


class Transaction(BaseModel):
    """One payment of one notice by one citizen (stored and returned the same way, minus the
    payer's fiscal code, which only the receipt needs)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    transaction_id: str = Field(alias="transactionId", pattern=TRANSACTION_ID)
    user_id: str = Field(alias="userId")
    payer_fiscal_code: str = Field(alias="payerFiscalCode")
    status: Status
    notice_code: str = Field(alias="noticeCode")
    ec_fiscal_code: str = Field(alias="ecFiscalCode")
    ec_name: str = Field(alias="ecName")
    description: str
    amount: int = Field(description="Euro cents, as the EC (or the archive) said.")
    fee: int = Field(description="The PSP's fee, euro cents, shown before the citizen confirms.")
    psp_id: str = Field(alias="pspId")
    psp_name: str = Field(alias="pspName")
    payment_token: str = Field(alias="paymentToken")
    expires_at: datetime = Field(alias="expiresAt")
    stand_in: bool = Field(alias="standIn")
    created_at: datetime = Field(alias="createdAt")
    updated_at: datetime = Field(alias="updatedAt")
    wallet_id: str | None = Field(default=None, alias="walletId")
    auth_key: str | None = Field(
        default=None, alias="authIdempotencyKey", description="The confirmation's key."
    )
    method: str | None = Field(default=None, description="e.g. 'VISA ···· 4242'.")
    charge_id: str | None = Field(default=None, alias="chargeId")
    authorization_code: str | None = Field(default=None, alias="authorizationCode")
    receipt_id: str | None = Field(default=None, alias="receiptId")
    paid_at: datetime | None = Field(default=None, alias="paidAt")
    debtor: Person | None = Field(
        default=None, description="Who owes the notice, as the archive names them."
    )
    history: tuple[Step, ...] = ()

    @property
    def total(self) -> int:
        return self.amount + self.fee


def advance(
    transaction: Transaction,
    status: Status,
    *,
    now: datetime,
    reason: str | None = None,
    **changes: object,
) -> Transaction:
    """``transaction`` moved to ``status`` with ``changes`` (model field names).

    Raises:
        Conflict: the machine has no such transition from the current status.
    """
    if status not in TRANSITIONS[transaction.status]:
        raise Conflict(
            f"the transaction is {transaction.status}: it cannot become {status}",
            code="TRANSACTION_STATE",
        )
    step = Step(status=status, at=now, reason=reason)
    return transaction.model_copy(
        update={
            **changes,
            "status": status,
            "updated_at": now,
            "history": (*transaction.history, step),
        }
    )


def expired(transaction: Transaction, now: datetime) -> bool:
    """The payment token lapsed before any charge was asked for."""
    return transaction.status == "ACTIVATED" and now >= transaction.expires_at
