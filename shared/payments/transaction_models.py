"""What the transactions' routes take and return (the app's own API: requests forbid extras).

Shapes follow pagoPA's ecommerce transactions service where it has one (a new transaction
names its notice, an auth request names the wallet and carries the confirmation's key; the
transaction shows status, amount, fee and token expiry); docs/payments.md has the source.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.notices.models import EC_FISCAL_CODE, NAV
from shared.payments.codes import MAX_SCANNED
from shared.payments.transactions import Status, Transaction
from shared.standin.models import IDEMPOTENCY_KEY
from shared.wallet.models import WALLET_ID

__all__ = ["AuthRequestIn", "NewTransactionIn", "TransactionOut"]


class NewTransactionIn(BaseModel):
    """Either the notice's codes, or the string the app scanned (QR code or data matrix)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    notice_code: str | None = Field(default=None, alias="noticeCode", pattern=NAV)
    ec_fiscal_code: str | None = Field(default=None, alias="ecFiscalCode", pattern=EC_FISCAL_CODE)
    scanned: str | None = Field(
        default=None,
        max_length=MAX_SCANNED,
        description="The text of a pagoPA QR code or of a Poste data matrix, as scanned.",
    )

    @model_validator(mode="after")
    def _one_way(self) -> NewTransactionIn:
        codes = self.notice_code is not None and self.ec_fiscal_code is not None
        partial = (self.notice_code is None) != (self.ec_fiscal_code is None)
        if partial or codes == (self.scanned is not None):
            raise ValueError("give noticeCode and ecFiscalCode, or scanned, not both")
        return self


class AuthRequestIn(BaseModel):
    """The citizen's confirmation: pay with this wallet instrument. The same key again is
    the same confirmation (a double tap pays once)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    wallet_id: str = Field(alias="walletId", pattern=WALLET_ID)
    idempotency_key: str = Field(alias="idempotencyKey", pattern=IDEMPOTENCY_KEY)


class TransactionOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    transaction_id: str = Field(alias="transactionId")
    status: Status
    notice_code: str = Field(alias="noticeCode")
    ec_fiscal_code: str = Field(alias="ecFiscalCode")
    ec_name: str = Field(alias="ecName")
    description: str
    amount: int = Field(description="Euro cents.")
    fee: int = Field(description="The PSP's fee, euro cents.")
    total: int = Field(description="amount + fee, euro cents: what the instrument is charged.")
    psp_id: str = Field(alias="pspId")
    payment_token: str = Field(alias="paymentToken")
    expires_at: datetime = Field(alias="expiresAt", description="Confirm before this moment.")
    stand_in: bool = Field(alias="standIn")
    wallet_id: str | None = Field(default=None, alias="walletId")
    method: str | None = None
    receipt_id: str | None = Field(default=None, alias="receiptId")
    paid_at: datetime | None = Field(default=None, alias="paidAt")
    created_at: datetime = Field(alias="createdAt")
    updated_at: datetime = Field(alias="updatedAt")

    @classmethod
    def of(cls, transaction: Transaction) -> TransactionOut:
        data = transaction.model_dump(
            by_alias=False,
            include={
                "transaction_id",
                "status",
                "notice_code",
                "ec_fiscal_code",
                "ec_name",
                "description",
                "amount",
                "fee",
                "psp_id",
                "payment_token",
                "expires_at",
                "stand_in",
                "wallet_id",
                "method",
                "receipt_id",
                "paid_at",
                "created_at",
                "updated_at",
            },
        )
        return cls(**data, total=transaction.total)
