"""What acquirers send to the transactions API, and what they are answered.

A batch holds up to :data:`MAX_LINES` lines, each checked on its own by the intake
(:mod:`shared.cashback.intake`): a line is a :class:`TransactionIn` or it is rejected with its
reasons, and the batch goes on.
"""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.cashback import rules

MAX_LINES = 10_000
_CODE = r"^[A-Za-z0-9._-]{1,64}$"


class TransactionIn(BaseModel):
    """One acquirer transaction (amounts in euro cents)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    acquirer_id: str = Field(alias="acquirerId", pattern=r"^[A-Z0-9]{3,32}$")
    id_trx_acquirer: str = Field(alias="idTrxAcquirer", pattern=_CODE)
    hpan: str = Field(pattern=r"^[0-9a-f]{64}$")
    operation_type: rules.OperationType = Field(alias="operationType")
    trx_date: AwareDatetime = Field(alias="trxDate", description="With its UTC offset")
    amount: int = Field(ge=1, le=100_000_000, description="Euro cents")
    merchant_id: str = Field(alias="merchantId", pattern=_CODE)
    terminal_id: str = Field(alias="terminalId", pattern=_CODE)
    correlation_id: str | None = Field(default=None, alias="correlationId", pattern=_CODE)
    circuit_type: str = Field(alias="circuitType", pattern=r"^[0-9]{2}$")

    def rule_view(self) -> rules.Transaction:
        return rules.Transaction(
            id=f"{self.acquirer_id}:{self.id_trx_acquirer}",
            hpan=self.hpan,
            operation=self.operation_type,
            amount=self.amount,
            at=self.trx_date,
            acquirer_id=self.acquirer_id,
            merchant_id=self.merchant_id,
            terminal_id=self.terminal_id,
            correlation_id=self.correlation_id,
        )


class TransactionBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transactions: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_LINES,
        description="Up to 10,000 transactions; each is checked on its own",
    )


class LineRejection(BaseModel):
    index: int
    reason: str
    errors: list[dict[str, Any]] = Field(default_factory=list)


class BatchAccepted(BaseModel):
    accepted: int
    rejected: list[LineRejection]
