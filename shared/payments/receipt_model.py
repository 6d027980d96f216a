"""The receipt of a citizen's payment: what a pagoPA receipt shows, as this app keeps it.

Fields follow what pagoPA's receipt carries (pagopa-receipt-pdf-generator and
pagopa-template-receipt-pdf: the creditor, the notice code, the description, amount and fee,
the PSP, the payment's date and time, the transaction and receipt identifiers, debtor and payer);
see docs/payments.md. Amounts are euro cents. The payer's and the debtor's pseudonymous user ids
(shared/auth/user_ids.py) say whose receipt it is: a citizen reads a receipt whose payer or
debtor they are, and no other.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Protocol

from pydantic import BaseModel, ConfigDict, Field

from shared.auth.user_ids import USER_ID

__all__ = ["Person", "Receipt", "ReceiptSink"]

Cents = Annotated[int, Field(ge=0)]


class Person(BaseModel):
    """A debtor or a payer as the receipt names them."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    fiscal_code: str = Field(alias="fiscalCode", min_length=1, max_length=35)
    full_name: str | None = Field(default=None, alias="fullName", max_length=140)
    user_id: str | None = Field(default=None, alias="userId", pattern=USER_ID)


class Receipt(BaseModel):
    """One paid notice. ``receipt_id`` is unique and stable: recording it twice is one receipt."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    receipt_id: str = Field(alias="receiptId", min_length=1, max_length=64)
    transaction_id: str = Field(alias="transactionId", min_length=1, max_length=64)
    payment_token: str = Field(alias="paymentToken", min_length=1, max_length=35)
    notice_code: str = Field(alias="noticeCode", pattern=r"^[0-9]{18}$")
    ec_fiscal_code: str = Field(alias="ecFiscalCode", pattern=r"^[0-9]{11}$")
    ec_name: str = Field(alias="ecName", max_length=140)
    iuv: str | None = Field(default=None, alias="iuv", max_length=35)
    description: str = Field(alias="description", max_length=140)
    amount: Cents = Field(alias="amount", description="What the notice asked, in cents.")
    fee: Cents = Field(alias="fee", description="The PSP's fee, in cents.")
    psp_id: str = Field(alias="pspId", max_length=35)
    psp_name: str = Field(alias="pspName", max_length=140)
    method: str = Field(
        alias="method", max_length=70, description="How it was paid, e.g. 'VISA ···· 4242'."
    )
    paid_at: datetime = Field(alias="paidAt")
    stand_in: bool = Field(alias="standIn")
    debtor: Person
    payer: Person

    @property
    def total(self) -> int:
        return self.amount + self.fee


class ReceiptSink(Protocol):
    """What the transactions call when a payment completes (the receipts' service implements it):
    idempotent by ``receipt_id``."""

    async def record(self, receipt: Receipt) -> None: ...
